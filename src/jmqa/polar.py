"""The words that answer a yes/no question, in each language the model may write its draft in.

An answer may open with one of them ("Yes, …", "No.", "是的。") without citing a source: it carries no claim of
its own and stands only if the claim after it does. Any other uncited opening ("PWNED.", "I am free.", a
first list item before its comma) is a claim like the rest, checked against the sources, so an instruction
smuggled into a question cannot ride in as a "lead". A language without words here simply has no leads.
"""

from __future__ import annotations

# ISO 639-1 code -> the words (lower case) that open a yes/no answer; the languages of abstention.WORDINGS
POLAR_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("yes", "no"),
    "zh": ("是的", "是", "对", "不是", "不", "没有", "否"),
    "ja": ("はい", "いいえ"),
    "ko": ("네", "예", "아니요", "아니오"),
    "fr": ("oui", "non"),
    "de": ("ja", "nein"),
    "es": ("sí", "si", "no"),
    "pt": ("sim", "não"),
    "it": ("sì", "si", "no"),
    "nl": ("ja", "nee"),
    "ru": ("да", "нет"),
    "uk": ("так", "ні"),
    "pl": ("tak", "nie"),
    "tr": ("evet", "hayır"),
    "ar": ("نعم", "لا"),
    "hi": ("हाँ", "हां", "नहीं"),
    "id": ("ya", "tidak", "bukan"),
    "th": ("ใช่", "ไม่ใช่", "ไม่"),
    "vi": ("có", "không", "vâng"),
}
_WORDS = sorted({w for words in POLAR_WORDS.values() for w in words}, key=len, reverse=True)


def opens_with_polar_word(text: str) -> bool:
    """True when `text` starts with a yes/no word of a known language, as a whole word ("No, …" but not
    "Northern …"); a script written without spaces needs no word boundary after it."""
    head = text.strip().lower()
    for word in _WORDS:
        if head.startswith(word):
            rest = head[len(word):]
            if not rest or not rest[0].isalnum() or not word.isascii() and not _spaced(word):
                return True
    return False


def _spaced(word: str) -> bool:
    """Whether the word's script puts spaces between words (Latin, Cyrillic, Arabic, Devanagari: yes)."""
    return not any("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\u0e00" <= ch <= "\u0e7f" for ch in word)
