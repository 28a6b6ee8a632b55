"""Output formats of an audit result."""
