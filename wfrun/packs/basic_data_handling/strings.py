"""The pack's STRING nodes that give one plain value (``string_nodes.py``): Python's ``str``
methods, as the pack calls them.

Kept as the pack has them:

* Count/Find/Rfind/Startswith/Endswith search up to the end when ``end`` is 0 or less.
* Strip/Lstrip/Rstrip with empty ``chars`` strip whitespace; Split/Rsplit with an empty
  ``sep`` split on runs of whitespace.
* Center pads with the first character of ``fillchar`` (a space when it is empty);
  Ljust/Rjust with the first character too, and refuse an empty one (Python does).
* Join (from LIST) joins with the *first character* of ``sep`` only (the pack indexes it as
  if it were a list), and an empty ``sep`` fails there.
* Escape/Unescape handle backslash, newline, tab and both quotes only.
* Encode gives the text of the bytes (``"b'caf\\\\xc3\\\\xa9'"``); Decode reads such a text
  back. Both return their error as the text output instead of failing, as the pack does.
* The LIST outputs are Python lists.

Results longer than ``MAX_CHARS`` characters (a wide ``width``, a long ``new`` replacing
every match, ``tabsize``) are refused before they are built, naming the input.
"""

from __future__ import annotations

from typing import Any

from wfrun.nodes.executor import NodeInputError
from wfrun.packs.basic_data_handling.common import (check_length, define, read_any, read_int, read_list,
                                                    read_text)

TEXT = read_text
INT = read_int
ANY = read_any

ENCODINGS = ("utf-8", "ascii", "latin-1", "utf-16", "utf-32", "cp1252")


def _one_arg(method: Any) -> Any:
    def compute(string: str) -> Any:
        result = method(string)
        if isinstance(result, str):
            check_length(len(result), "string")
        return result
    return compute


for _name, _method in [
        ("StringCapitalize", str.capitalize), ("StringCasefold", str.casefold), ("StringLower", str.lower),
        ("StringUpper", str.upper), ("StringSwapcase", str.swapcase), ("StringTitle", str.title),
        ("StringIsAlnum", str.isalnum), ("StringIsAlpha", str.isalpha), ("StringIsAscii", str.isascii),
        ("StringIsDecimal", str.isdecimal), ("StringIsDigit", str.isdigit),
        ("StringIsIdentifier", str.isidentifier), ("StringIsLower", str.islower),
        ("StringIsNumeric", str.isnumeric), ("StringIsPrintable", str.isprintable),
        ("StringIsSpace", str.isspace), ("StringIsTitle", str.istitle), ("StringIsUpper", str.isupper)]:
    define(_name, [("string", TEXT)], _one_arg(_method))
define("StringLength", [("string", TEXT)], len, bare=None)


def _span(method: Any) -> Any:
    def compute(string: str, needle: str, start: int, end: int) -> Any:
        return method(string, needle, start, len(string) if end <= 0 else end)
    return compute


define("StringCount", [("string", TEXT), ("substring", TEXT), ("start", INT), ("end", INT)], _span(str.count))
define("StringFind", [("string", TEXT), ("substring", TEXT), ("start", INT), ("end", INT)], _span(str.find))
define("StringRfind", [("string", TEXT), ("substring", TEXT), ("start", INT), ("end", INT)], _span(str.rfind))
define("StringStartswith", [("string", TEXT), ("prefix", TEXT), ("start", INT), ("end", INT)],
       _span(str.startswith))
define("StringEndswith", [("string", TEXT), ("suffix", TEXT), ("start", INT), ("end", INT)], _span(str.endswith))
define("StringIn", [("string", TEXT), ("substring", TEXT)], lambda string, sub: sub in string, bare=None)
define("StringRemoveprefix", [("string", TEXT), ("prefix", TEXT)], str.removeprefix)
define("StringRemovesuffix", [("string", TEXT), ("suffix", TEXT)], str.removesuffix)


def _strip(method: Any) -> Any:
    def compute(string: str, chars: str) -> str:
        return method(string, chars or None)
    return compute


define("StringStrip", [("string", TEXT), ("chars", TEXT)], _strip(str.strip))
define("StringLstrip", [("string", TEXT), ("chars", TEXT)], _strip(str.lstrip))
define("StringRstrip", [("string", TEXT), ("chars", TEXT)], _strip(str.rstrip))


def _center(string: str, width: int, fillchar: str) -> str:
    check_length(width, "width")
    return string.center(width, fillchar[0] if fillchar else " ")


def _justify(method: Any) -> Any:
    def compute(string: str, width: int, fillchar: str) -> str:
        check_length(width, "width")
        if not fillchar:
            raise NodeInputError("fillchar", "fillchar is empty; the fill character must be exactly one character",
                                 "set fillchar to one character, such as a space")
        return method(string, width, fillchar[0])
    return compute


def _zfill(string: str, width: int) -> str:
    check_length(width, "width")
    return string.zfill(width)


define("StringCenter", [("string", TEXT), ("width", INT), ("fillchar", TEXT)], _center, blame="width")
define("StringLjust", [("string", TEXT), ("width", INT), ("fillchar", TEXT)], _justify(str.ljust), blame="width")
define("StringRjust", [("string", TEXT), ("width", INT), ("fillchar", TEXT)], _justify(str.rjust), blame="width")
define("StringZfill", [("string", TEXT), ("width", INT)], _zfill, blame="width")


def _concat(string_a: str, string_b: str) -> str:
    check_length(len(string_a) + len(string_b), "string_b")
    return string_a + string_b


def _expandtabs(string: str, tabsize: int) -> str:
    check_length(len(string) + string.count("\t") * max(tabsize, 0), "tabsize")
    return string.expandtabs(tabsize)


def _replace(string: str, old: str, new: str, count: int) -> str:
    found = len(string) + 1 if old == "" else string.count(old)
    if count >= 0:
        found = min(found, count)
    check_length(len(string) + found * (len(new) - len(old)), "new")
    return string.replace(old, new, count)


define("StringConcat", [("string_a", TEXT), ("string_b", TEXT)], _concat)
define("StringExpandtabs", [("string", TEXT), ("tabsize", INT)], _expandtabs, blame="tabsize")
define("StringReplace", [("string", TEXT), ("old", TEXT), ("new", TEXT), ("count", INT)], _replace, bare=None)


def _escape(string: str) -> str:
    check_length(2 * len(string), "string")
    return (string.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            .replace('"', '\\"').replace("'", "\\'"))


def _unescape(string: str) -> str:
    # a doubled backslash is parked on NUL while the other sequences are read, as the pack does
    return (string.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t")
            .replace('\\"', '"').replace("\\'", "'").replace("\0", "\\"))


define("StringEscape", [("string", TEXT)], _escape, bare=None)
define("StringUnescape", [("string", TEXT)], _unescape, bare=None)


def _encoding(encoding: Any) -> str:
    if encoding not in ENCODINGS:
        raise NodeInputError("encoding", f"encoding is {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    return encoding


def _encode(string: str, encoding: Any, errors: Any) -> str:
    encoding = _encoding(encoding)
    check_length(16 * len(string) + 3, "string")  # at most 4 bytes a character, 4 characters a byte
    try:
        return str(string.encode(encoding, errors))
    except Exception as err:  # noqa: BLE001 (the pack returns any error as its text output)
        return f"Encoding error: {err}"


def _decode(bytes_string: str, encoding: Any, errors: Any) -> str:
    encoding = _encoding(encoding)
    try:
        if not (bytes_string.startswith("b'") or bytes_string.startswith('b"')):
            return f"Input is not a bytes string representation: {bytes_string}"
        quote = bytes_string[1]
        if not bytes_string.endswith(quote):
            return f"Invalid bytes string format: {bytes_string}"
        content = bytes_string[2:-1].encode("utf-8").decode("unicode_escape").encode("latin-1")
        return content.decode(encoding, errors)
    except Exception as err:  # noqa: BLE001 (as the pack: the error is the text output)
        return f"Decoding error: {err}"


define("StringEncode", [("string", TEXT), ("encoding", ANY), ("errors", ANY)], _encode)
define("StringDecode", [("bytes_string", TEXT), ("encoding", ANY), ("errors", ANY)], _decode)


def _split(method: Any) -> Any:
    def compute(string: str, sep: str, maxsplit: int) -> list[str]:
        return method(string, sep or None, maxsplit)
    return compute


def _join(strings: list, sep: str) -> str:
    if not sep:
        raise NodeInputError("sep", "sep is empty; the pack joins with its first character",
                             "set sep to the separator character")
    for i, item in enumerate(strings):
        if not isinstance(item, str):
            raise NodeInputError("strings", f"strings: item {i} is {type(item).__name__}, not a STRING",
                                 "join a LIST of strings")
    check_length(sum(len(s) for s in strings) + max(len(strings) - 1, 0), "strings")
    return sep[0].join(strings)


define("StringSplitList", [("string", TEXT), ("sep", TEXT), ("maxsplit", INT)], _split(str.split), bare=None)
define("StringRsplitList", [("string", TEXT), ("sep", TEXT), ("maxsplit", INT)], _split(str.rsplit), bare=None)
define("StringSplitlinesList", [("string", TEXT), ("keepends", ANY)],
       lambda string, keepends: string.splitlines(bool(keepends)), bare=None)
define("StringListJoin", [("strings", read_list), ("sep", TEXT)], _join, bare=None)
