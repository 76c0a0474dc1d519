"""Text normalization shared by every model family, the de-duplication keys and the split.

The models were trained mostly on lowercased, lemmatized text without punctuation or stop words,
while users send raw titles and descriptions. ``normalize_text`` maps both onto the same form, and it
runs inside every saved model (``Categorizer.predict_proba``), so callers always pass raw text.
"""

import re
import unicodedata
from itertools import filterfalse

NORMALIZATION_VERSION = "prodcat-text-2"

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# The same rule for ASCII text, lowercasing included, as one byte table (letters to lowercase, digits
# kept, every other byte to a space): most catalog text is ASCII, and ``bytes.translate`` runs at memory
# speed, several times faster than the expression or a ``str`` translation table.
_ASCII_WORD_BYTES = bytes(b if chr(b).isalnum() and b < 128 else 32 for b in bytes(range(256)).lower())
_HAS_DIGIT = re.compile(r"\d")
# scikit-learn's ENGLISH_STOP_WORDS (318 words), written out so that predicting does not import
# scikit-learn; tests/test_cold_start.py checks the two lists are the same.
_STOP_WORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also although
    always am among amongst amoungst amount an and another any anyhow anyone anything anyway
    anywhere are around as at back be became because become becomes becoming been before beforehand
    behind being below beside besides between beyond bill both bottom but by call can cannot cant co
    con could couldnt cry de describe detail do done down due during each eg eight either eleven
    else elsewhere empty enough etc even ever every everyone everything everywhere except few
    fifteen fifty fill find fire first five for former formerly forty found four from front full
    further get give go had has hasnt have he hence her here hereafter hereby herein hereupon hers
    herself him himself his how however hundred i ie if in inc indeed interest into is it its itself
    keep last latter latterly least less ltd made many may me meanwhile might mill mine more
    moreover most mostly move much must my myself name namely neither never nevertheless next nine
    no nobody none noone nor not nothing now nowhere of off often on once one only onto or other
    others otherwise our ours ourselves out over own part per perhaps please put rather re same see
    seem seemed seeming seems serious several she should show side since sincere six sixty so some
    somehow someone something sometime sometimes somewhere still such system take ten than that the
    their them themselves then thence there thereafter thereby therefore therein thereupon these
    they thick thin third this those though three through throughout thru thus to together too top
    toward towards twelve twenty two un under until up upon us very via was we well were what
    whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
    whether which while whither who whoever whole whom whose why will with within without would yet
    you your yours yourself yourselves
    """.split()
)
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


def label_text(label: str) -> str:
    """A label's name as a text a model can learn from: its normalized words, without the words that
    are numbers (codes such as GS1's ``67000000_Clothing``); a path's levels are words of one line."""
    words = [w for w in normalize_text(label).split() if not w.isdigit()]
    return " ".join(words)


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
