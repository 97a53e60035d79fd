"""How jmqa says that the documents do not answer a question, in the asker's language.

An abstention is an ordinary reply, so a Chinese question gets it in Chinese. Each wording is a headline
(what a reader needs) and a sentence that explains it; a language without a wording here gets English.
"""

from __future__ import annotations

DEFAULT_LANGUAGE = "en"
# ISO 639-1 code -> (headline, explanation); the languages multilingual.LANGUAGE_NAMES asks the model to write in
WORDINGS: dict[str, tuple[str, str]] = {
    "en": ("The documents don't say.", "I found nothing in them that answers this question."),
    "zh": ("文档中没有提到。", "我在文档里没有找到能回答这个问题的内容。"),
    "ja": ("文書には書かれていません。", "この質問に答える内容は文書の中に見つかりませんでした。"),
    "ko": ("문서에는 나와 있지 않습니다.", "이 질문에 답하는 내용을 문서에서 찾지 못했습니다."),
    "fr": ("Les documents ne le disent pas.", "Je n'y ai rien trouvé qui réponde à cette question."),
    "de": ("Die Dokumente sagen dazu nichts.", "Ich habe darin nichts gefunden, was diese Frage beantwortet."),
    "es": ("Los documentos no lo dicen.", "No encontré nada en ellos que responda a esta pregunta."),
    "pt": ("Os documentos não dizem.", "Não encontrei nada neles que responda a esta pergunta."),
    "it": ("I documenti non lo dicono.", "Non ho trovato nulla che risponda a questa domanda."),
    "nl": ("De documenten zeggen het niet.", "Ik heb er niets in gevonden dat deze vraag beantwoordt."),
    "ru": ("В документах об этом не сказано.", "Я не нашёл в них ничего, что отвечало бы на этот вопрос."),
    "uk": ("У документах про це не сказано.", "Я не знайшов у них нічого, що відповідало б на це питання."),
    "pl": ("Dokumenty o tym nie mówią.", "Nie znalazłem w nich nic, co odpowiadałoby na to pytanie."),
    "tr": ("Belgelerde bu yazmıyor.", "Bu soruyu yanıtlayan hiçbir şey bulamadım."),
    "ar": ("لا تذكر المستندات ذلك.", "لم أجد فيها ما يجيب عن هذا السؤال."),
    "hi": ("दस्तावेज़ों में यह नहीं बताया गया है।", "मुझे उनमें इस प्रश्न का उत्तर देने वाला कुछ नहीं मिला।"),
    "id": ("Dokumen tidak menyebutkannya.", "Saya tidak menemukan apa pun di dalamnya yang menjawab pertanyaan ini."),
    "th": ("เอกสารไม่ได้ระบุไว้", "ฉันไม่พบสิ่งใดในเอกสารที่ตอบคำถามนี้ได้"),
    "vi": ("Tài liệu không nói đến điều này.", "Tôi không tìm thấy nội dung nào trong đó trả lời câu hỏi này."),
}
_NO_SPACE = {"zh", "ja", "th"}  # scripts that do not put a space between sentences


def abstention_text(language: str | None = None) -> str:
    """The whole abstention in `language` (an ISO 639-1 code; English when None or not known)."""
    code = language if language in WORDINGS else DEFAULT_LANGUAGE
    headline, explanation = WORDINGS[code]
    return headline + ("" if code in _NO_SPACE else " ") + explanation


def split_abstention(text: str) -> tuple[str, str]:
    """(headline, explanation) of an abstention in any of the known languages; (text, "") for other text."""
    for headline, explanation in WORDINGS.values():
        if text.startswith(headline):
            return headline, text[len(headline):].strip()
    return text, ""


def is_abstention(text: str) -> bool:
    """True when `text` (an earlier answer in a conversation, say) is an abstention in a known language."""
    return any(text.startswith(headline) for headline, _ in WORDINGS.values())
