"""redis.conf syntax: Redis's argument splitting, include, the command line, CONFIG REWRITE's text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvserver.conffile import (
    REWRITE_SIGNATURE,
    ConfFileError,
    command_line_to_text,
    parse,
    quote,
    rewrite,
    split_args,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("port 7000", ["port", "7000"]),
        ("  save   900 1  ", ["save", "900", "1"]),
        ('requirepass "a b"', ["requirepass", "a b"]),
        ('x "tab\\there\\n" "\\x41\\x4a" "q\\"q"', ["x", "tab\there\n", "AJ", 'q"q']),
        ("x 'it\\'s' 'no\\nescape'", ["x", "it's", "no\\nescape"]),
        ('save ""', ["save", ""]),
        ('x "\\xZZ"', ["x", "xZZ"]),
        ('x "a"b', None),
        ("x 'a'b", None),
        ('x "open', None),
        ("x 'open", None),
        ("", []),
    ],
)
def test_split_args_follows_redis(line: str, expected: list[str] | None) -> None:
    assert split_args(line) == expected


@given(st.lists(st.text(alphabet=st.characters(max_codepoint=255), max_size=8), min_size=1, max_size=5))
def test_quoted_arguments_split_back_unchanged(args: list[str]) -> None:
    assert split_args(" ".join(quote(a) for a in args)) == args


def test_parse_skips_comments_lowercases_names_and_follows_includes() -> None:
    files = {"/etc/extra.conf": "# more\nMaxClients 50\n"}

    def read(path: str) -> tuple[str, str]:
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return path, files[path]

    text = "# a comment\n\nPORT 7000\ninclude /etc/extra.conf\n  appendfsync everysec\r\n"
    directives = parse(text, "main.conf", read)
    assert [(d.name, d.args, d.source, d.line) for d in directives] == [
        ("port", ("7000",), "main.conf", 3),
        ("maxclients", ("50",), "/etc/extra.conf", 2),
        ("appendfsync", ("everysec",), "main.conf", 5),
    ]


def test_parse_errors_name_the_file_and_line_as_redis_does() -> None:
    with pytest.raises(ConfFileError) as info:
        parse('port 1\nrequirepass "x\n', "redis.conf")
    assert info.value.line == 2
    assert "Reading the configuration file redis.conf, at line 2" in str(info.value)
    assert "Unbalanced quotes in configuration line" in str(info.value)

    def missing(path: str) -> tuple[str, str]:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(ConfFileError, match=r"can't open config file 'nope\.conf'"):
        parse("include nope.conf", "redis.conf", missing)


def test_an_include_loop_is_refused() -> None:
    with pytest.raises(ConfFileError, match="nested too deeply"):
        parse("include self.conf", "self.conf", lambda path: (path, "include self.conf"))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        # built as redis-server builds it: every value quoted (sdscatrepr), a space after each
        (["--port", "7000", "--save", "900", "1"], (None, 'port "7000" \nsave "900" "1" ')),
        (["my.conf", "--port", "1"], ("my.conf", 'port "1" ')),
        (["--save", "--appendonly", "yes"], (None, 'save ""\nappendonly "yes" ')),
        (["--appendonly", "yes", "--save"], (None, 'appendonly "yes" \nsave ""')),
        (["--requirepass", "--weird"], (None, 'requirepass "--weird" ')),
        (["--requirepass", 'a b"\n'], (None, 'requirepass "a b\\"\\n" ')),
        (["--save", ""], (None, 'save "" ')),
        (["--port 7000", "--bind", "::1"], (None, 'port 7000 \nbind "::1" ')),
    ],
)
def test_command_line_becomes_config_lines_as_in_redis(argv: list[str], expected: tuple[str | None, str]) -> None:
    assert command_line_to_text(argv) == expected


def test_rewrite_keeps_comments_and_order_and_appends_new_directives() -> None:
    old = "# my server\nport 6379\n\n# persistence\nappendfsync always\nsave 900 1\nsave 300 10\n"
    new = rewrite(old, {"port": [["7000"]], "save": [["60", "1000"]], "requirepass": [["p w"]]})
    assert new == (
        "# my server\nport 7000\n\n# persistence\nappendfsync always\nsave 60 1000\n"
        f'{REWRITE_SIGNATURE}\nrequirepass "p w"\n'
    )
    # a second rewrite is stable: the marker is not repeated
    assert rewrite(new, {"port": [["7000"]], "save": [["60", "1000"]], "requirepass": [["p w"]]}) == new
    # an empty list removes the directive
    assert "save" not in rewrite(new, {"save": []})
