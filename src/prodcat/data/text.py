"""Text normalization shared by every model family, the de-duplication keys and the split.

The models were trained mostly on lowercased, lemmatized text without punctuation or stop words,
while users send raw titles and descriptions. ``normalize_text`` maps both onto the same form, and it
runs inside every saved model (``Categorizer.predict_proba``), so callers always pass raw text.
"""

import re
import unicodedata
from itertools import filterfalse

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

NORMALIZATION_VERSION = "prodcat-text-2"

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# The same rule for ASCII text, lowercasing included, as one byte table (letters to lowercase, digits
# kept, every other byte to a space): most catalog text is ASCII, and ``bytes.translate`` runs at memory
# speed, several times faster than the expression or a ``str`` translation table.
_ASCII_WORD_BYTES = bytes(b if chr(b).isalnum() and b < 128 else 32 for b in bytes(range(256)).lower())
_HAS_DIGIT = re.compile(r"\d")
_STOP_WORDS = frozenset(ENGLISH_STOP_WORDS)
# Words that tell variants of one product apart; dropped from the near-duplicate key.
_VARIANT_WORDS = frozenset(
    """black white red blue green yellow pink purple orange brown grey gray silver gold golden beige
    maroon navy multicolor multicolour multi transparent dark light small medium large xl xxl xs
    s m l size pack set piece pcs pc combo color colour free kg g gm ml l ltr cm mm inch inches""".split()
)


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of ``text`` after Unicode compatibility folding; punctuation removed."""
    if text.isascii():  # nothing to fold
        return text.encode("ascii").translate(_ASCII_WORD_BYTES).decode("ascii").split()
    text = unicodedata.normalize("NFKC", text).lower()
    return _NON_WORD.sub(" ", text).split()


def normalize_text(text: str) -> str:
    """The form every model sees: lowercase words, no punctuation, no English stop words.

    Lines stay apart (empty ones dropped): a catalog's text columns are joined one per line, so the
    first line is the title, which a model may weigh on its own.
    """
    lines = []
    for line in text.splitlines():
        words = list(filterfalse(_STOP_WORDS.__contains__, tokenize(line)))
        if words:
            lines.append(" ".join(words))
    return "\n".join(lines)


def duplicate_key(text: str) -> str:
    """Two texts with the same key are exact duplicates up to case, punctuation and white space."""
    return " ".join(tokenize(text))


def near_duplicate_key(text: str, n_tokens: int = 8) -> str:
    """Texts with the same key are probably one product in another size, colour or pack.

    The key is the first ``n_tokens`` content words, ignoring numbers and variant words.
    """
    tokens = [
        token
        for token in tokenize(text)
        if token not in _STOP_WORDS and token not in _VARIANT_WORDS and not _HAS_DIGIT.search(token)
    ]
    return " ".join(tokens[:n_tokens])
