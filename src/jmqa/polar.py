"""The words that answer a yes/no question, in each language the model may write its draft in.

An answer may open with one of them ("Yes, …", "No.", "是的。") without citing a source: it carries no claim of
its own and stands only if the claim after it does. Any other uncited opening ("PWNED.", "I am free.", a
first list item before its comma) is a claim like the rest, checked against the sources, so an instruction
smuggled into a question cannot ride in as a "lead". A language without words here simply has no leads.
Each language's words come in two groups, yes and no, so that a lead's polarity can be read and turned.
"""

from __future__ import annotations

# ISO 639-1 code -> (the words that open a "yes" answer, those that open a "no"), lower case, the usual first;
# the languages of abstention.WORDINGS
POLAR_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (("yes",), ("no",)),
    "zh": (("是的", "是", "对"), ("不是", "不", "没有", "否")),
    "ja": (("はい",), ("いいえ",)),
    "ko": (("네", "예"), ("아니요", "아니오")),
    "fr": (("oui",), ("non",)),
    "de": (("ja",), ("nein",)),
    "es": (("sí", "si"), ("no",)),
    "pt": (("sim",), ("não",)),
    "it": (("sì", "si"), ("no",)),
    "nl": (("ja",), ("nee",)),
    "ru": (("да",), ("нет",)),
    "uk": (("так",), ("ні",)),
    "pl": (("tak",), ("nie",)),
    "tr": (("evet",), ("hayır",)),
    "ar": (("نعم",), ("لا",)),
    "hi": (("हाँ", "हां"), ("नहीं",)),
    "id": (("ya",), ("tidak", "bukan")),
    "th": (("ใช่",), ("ไม่ใช่", "ไม่")),
    "vi": (("có", "vâng"), ("không",)),
}
# (word, language, "yes"/"no"), longest first so that "不是" is read before "不" and "是"
_WORDS = sorted(((w, lang, side) for lang, (yes, no) in POLAR_WORDS.items()
                 for side, words in (("yes", yes), ("no", no)) for w in words), key=lambda t: len(t[0]), reverse=True)


def _opening(text: str) -> tuple[str, str, str] | None:
    """The yes/no word `text` opens with, as a whole word ("No, …" but not "Northern …"; a script written
    without spaces needs no word boundary after it), with its language and side."""
    head = text.strip().lower()
    for word, lang, side in _WORDS:
        if head.startswith(word):
            rest = head[len(word):]
            if not rest or not rest[0].isalnum() or not word.isascii() and not _spaced(word):
                return word, lang, side
    return None


def opens_with_polar_word(text: str) -> bool:
    """True when `text` starts with a yes/no word of a known language."""
    return _opening(text) is not None


def polarity(text: str) -> str | None:
    """"yes" or "no": what the yes/no word `text` opens with says; None without one."""
    found = _opening(text)
    return found[2] if found else None


def is_bare(text: str) -> bool:
    """True when `text` is a yes/no word and nothing else but punctuation ("No.", "不是。")."""
    found = _opening(text)
    return found is not None and not any(ch.isalnum() for ch in text.strip().lower()[len(found[0]):])


def turned(text: str) -> str | None:
    """The usual word of the other side, in the language of the yes/no word `text` opens with and in its
    capitalisation ("Yes, …" -> "No", "是的，…" -> "不是"); None without one."""
    found = _opening(text)
    if found is None:
        return None
    _, lang, side = found
    yes, no = POLAR_WORDS[lang]
    other = (no if side == "yes" else yes)[0]
    return other.capitalize() if text.strip()[:1].isupper() else other


def _spaced(word: str) -> bool:
    """Whether the word's script puts spaces between words (Latin, Cyrillic, Arabic, Devanagari: yes)."""
    return not any("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\u0e00" <= ch <= "\u0e7f" for ch in word)
