"""Editing README.md as text: the provenance keys and the section written, everything else
byte for byte; the result loads with huggingface_hub's own card parser with the same values;
what cannot be edited safely is refused."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from scanner.card import parse_card
from scanner.disclose.card_edit import (
    SECTION_BEGIN,
    SECTION_END,
    CardConflict,
    front_matter_text,
    put_section,
    set_front_matter,
    updated_card,
)
from scanner.disclose.model import CardMetadata

PROPOSED = CardMetadata(
    license="other",
    license_name="qwen",
    license_link="https://huggingface.co/Qwen/Qwen2.5-72B-Instruct/blob/main/LICENSE",
    base_model=("Qwen/Qwen2.5-0.5B",),
    base_model_relation="finetune",
)
SECTION = "## Provenance and licenses\n\nThe weights are a fine-tune of Qwen/Qwen2.5-0.5B. [F3]\n"
CARD = (
    "---\n"
    "# the publisher's comment stays\n"
    "license: apache-2.0\n"
    "language:\n"
    "  - en\n"
    "  - fr\n"
    "tags: [chat, 'quoted: yes']\n"
    "pipeline_tag: text-generation\n"
    "---\n"
    "# acme-chat\n"
    "\n"
    "Body text, *as written*.\n"
)


def hub_values(text: str) -> dict[str, object]:
    data = ModelCard(text, ignore_metadata_errors=False).data.to_dict()
    return {k: data.get(k) for k in PROPOSED.__dataclass_fields__}


def test_written_front_matter_loads_with_huggingface_hub_with_the_same_values() -> None:
    out = updated_card(CARD, PROPOSED, SECTION)
    assert hub_values(out) == {
        "license": "other",
        "license_name": "qwen",
        "license_link": PROPOSED.license_link,
        "base_model": "Qwen/Qwen2.5-0.5B",
        "base_model_relation": "finetune",
    }
    data = ModelCard(out).data
    assert data.language == ["en", "fr"] and data.tags == ["chat", "quoted: yes"]
    several = CardMetadata(license="mit", base_model=("a/x", "b/y"), base_model_relation="merge")
    assert hub_values(updated_card(CARD, several, SECTION))["base_model"] == ["a/x", "b/y"]


def test_everything_but_the_provenance_keys_and_the_section_is_kept_byte_for_byte() -> None:
    out = updated_card(CARD, PROPOSED, SECTION)
    assert out.startswith("---\n# the publisher's comment stays\nlicense: other\nlanguage:\n")
    assert "tags: [chat, 'quoted: yes']\npipeline_tag: text-generation\n" in out
    body = CARD.split("---\n", 2)[2]
    after_front = out.split("---\n", 2)[2]
    assert after_front.startswith(body)  # the body, untouched, then the section
    assert after_front[len(body) :] == f"\n{SECTION_BEGIN}\n{SECTION}{SECTION_END}\n"
    # removing what was added gives the card back
    kept = [
        ln for ln in out.splitlines(keepends=True) if not ln.startswith(("license", "base_model"))
    ]
    original = [ln for ln in CARD.splitlines(keepends=True) if not ln.startswith("license")]
    assert "".join(kept).startswith("".join(original))


def test_applying_twice_changes_nothing_more() -> None:
    once = updated_card(CARD, PROPOSED, SECTION)
    assert updated_card(once, PROPOSED, SECTION) == once
    newer = SECTION.replace("[F3]", "[F4]")
    twice = updated_card(once, PROPOSED, newer)
    assert twice == once.replace("[F3]", "[F4]")  # the section replaced where it was


def test_crlf_bom_and_undecodable_bytes_are_kept() -> None:
    raw = ("\ufeff" + CARD).replace("\n", "\r\n") + "caf\udce9\r\n"
    out = updated_card(raw, PROPOSED, SECTION)
    assert out.startswith("\ufeff---\r\n")
    assert "\n" not in out.replace("\r\n", "")
    assert "caf\udce9\r\n" in out
    assert out.encode("utf-8", "surrogateescape").count(b"caf\xe9") == 1
    assert parse_card(out).base_model == ("Qwen/Qwen2.5-0.5B",)


def test_a_card_without_front_matter_gets_one_and_an_empty_release_a_card() -> None:
    out = updated_card("# model\n\nText.\n", PROPOSED, SECTION)
    assert out.startswith("---\nlicense: other\n") and "\n---\n# model\n\nText.\n" in out
    created = updated_card("", PROPOSED, SECTION)
    assert hub_values(created)["license_name"] == "qwen"
    assert created.endswith(SECTION_END + "\n")


def test_block_list_values_are_replaced_whole_and_stale_keys_removed() -> None:
    card = (
        "---\nlicense: other\nlicense_name: old\nlicense_link: LICENSE\nbase_model:\n"
        "- a/x\n- b/y\n\n# a comment after the list\ndatasets: [d]\n---\nbody\n"
    )
    target = CardMetadata(license="llama3.1", base_model=("a/x", "b/y", "c/z"))
    out = set_front_matter(card, target)
    assert "license_name" not in out and "license_link" not in out
    assert "base_model:\n- a/x\n- b/y\n- c/z\n\n# a comment after the list\ndatasets: [d]\n" in out
    assert parse_card(out).base_model == ("a/x", "b/y", "c/z")


def test_unchanged_values_keep_their_own_spelling() -> None:
    card = "---\nlicense: 'other'\nlicense_name: qwen\nbase_model: [Qwen/Qwen2.5-0.5B]\n---\n"
    same = CardMetadata(license="other", license_name="qwen", base_model=("Qwen/Qwen2.5-0.5B",))
    assert set_front_matter(card, same) == card


@pytest.mark.parametrize(
    "card",
    [
        "---\nlicense: [unclosed\n---\nbody\n",
        "---\nlicense: apache-2.0\nbody without a closing line\n",
        "---\n- a list\n- not a mapping\n---\n",
        "---\nlicense: mit\n---\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> other\n",
        "---\nlicense: mit\nlicense: apache-2.0\n---\n",
    ],
)
def test_a_card_that_cannot_be_edited_safely_is_refused(card: str) -> None:
    with pytest.raises(CardConflict):
        updated_card(card, PROPOSED, SECTION)


def test_a_half_marked_section_is_refused() -> None:
    with pytest.raises(CardConflict):
        put_section(f"# m\n{SECTION_BEGIN}\nold\n", SECTION)
    with pytest.raises(CardConflict):
        put_section(f"# m\n{SECTION_END}\n{SECTION_BEGIN}\n", SECTION)


def test_front_matter_text_is_the_block_with_its_delimiters() -> None:
    assert front_matter_text(CARD) == CARD[: CARD.index("# acme-chat")]
    assert front_matter_text("# no front matter\n") == ""
