"""Tokenizing: the fast path for ASCII text gives the same tokens as the Unicode rule."""

import unicodedata

from prodcat.data.text import _NON_WORD, normalize_text, tokenize


def _by_the_unicode_rule(text: str) -> list[str]:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()


def test_every_ascii_character_is_tokenized_as_by_the_unicode_rule():
    every_ascii = "".join(map(chr, range(128)))
    text = f"{every_ascii} Sony_WH-1000XM4 (Black), 2-Pack! 50%-off\tUSB-C/3.1"
    assert text.isascii()
    assert tokenize(text) == _by_the_unicode_rule(text)
    assert tokenize("Sony_WH-1000XM4 (Black), 2-Pack!") == ["sony", "wh", "1000xm4", "black", "2", "pack"]


def test_non_ascii_text_is_folded():
    assert tokenize("Café ＵＳＢ ﬁlter – 2½") == ["café", "usb", "filter", "21", "2"]  # ½ folds to 1⁄2
    assert normalize_text("The Café\nOf ＵＳＢ") == "café\nusb"
