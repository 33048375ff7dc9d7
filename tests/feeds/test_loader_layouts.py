"""load_csv layouts and bad files, on small CSVs written to tmp_path (no shared data needed)."""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from btedge.feeds import DataValidationError, load_csv

BARS = [  # (open, high, low, close, volume)
    (10.0, 11.0, 9.5, 10.5, 100.0),
    (10.5, 12.0, 10.0, 11.5, 200.0),
    (11.5, 11.8, 10.9, 11.0, 150.0),
]


def _write(tmp_path: Path, text: str, name: str = "bars.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    data = text.encode(encoding)
    if name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def _rows(stamps: list[str], sep: str = ",", volume: bool = True) -> str:
    out = []
    for stamp, bar in zip(stamps, BARS):
        values = bar if volume else bar[:4]
        out.append(sep.join([stamp, *(f"{v:g}" for v in values)]))
    return "\n".join(out) + "\n"


def _check(df: pd.DataFrame, stamps: list[str]) -> None:
    assert list(df.index) == [pd.Timestamp(s) for s in stamps]
    assert df[["open", "high", "low", "close"]].to_numpy().tolist() == [list(b[:4]) for b in BARS]
    assert df.index.name == "datetime"


LAYOUTS = {
    "iso": ("date,open,high,low,close,volume\n", ["2021-03-01", "2021-03-02", "2021-03-03"], ","),
    "semicolon": ("Date;Open;High;Low;Close;Volume\n", ["2021-03-01 10:00", "2021-03-01 10:01", "2021-03-01 10:02"], ";"),
    "tab": ("Date\tOpen\tHigh\tLow\tClose\tVolume\n", ["2021-03-01", "2021-03-02", "2021-03-03"], "\t"),
    "yyyymmdd": ("Date,Open,High,Low,Close,Volume\n", ["20210301", "20210302", "20210303"], ","),
    "dotted": ("Time,Open,High,Low,Close,Volume\n",
               ["01.03.2021 22:00:00.000", "01.03.2021 23:00:00.000", "02.03.2021 00:00:00.000"], ","),
    "ampm": ("date,open,high,low,close,volume\n", ["2021-03-01 11-AM", "2021-03-01 12-PM", "2021-03-01 01-PM"], ","),
    "fraction": ("timestamp,open,high,low,close,volume\n",
                 ["2021-03-01 10:00:00.000000", "2021-03-01 10:01:00.000000", "2021-03-01 10:02:00.000000"], ","),
}
EXPECTED = {
    "dotted": ["2021-03-01 22:00", "2021-03-01 23:00", "2021-03-02 00:00"],
    "ampm": ["2021-03-01 11:00", "2021-03-01 12:00", "2021-03-01 13:00"],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_header_layouts(tmp_path: Path, layout: str) -> None:
    header, stamps, sep = LAYOUTS[layout]
    df = load_csv(_write(tmp_path, header + _rows(stamps, sep)))
    _check(df, EXPECTED.get(layout, stamps))
    assert df["volume"].tolist() == [b[4] for b in BARS]


def test_headerless_ninjatrader_layout(tmp_path: Path) -> None:
    stamps = ["20110103 090100", "20110103 090200", "20110103 090600"]
    df = load_csv(_write(tmp_path, _rows(stamps, ";")))
    _check(df, ["2011-01-03 09:01", "2011-01-03 09:02", "2011-01-03 09:06"])


def test_headerless_split_date_time_with_openinterest(tmp_path: Path) -> None:
    text = "".join(f"2006-01-02,09:0{i}:00,{o},{h},{lo},{c},{v},7\n" for i, (o, h, lo, c, v) in enumerate(BARS))
    df = load_csv(_write(tmp_path, text))
    _check(df, ["2006-01-02 09:00", "2006-01-02 09:01", "2006-01-02 09:02"])
    assert df["openinterest"].tolist() == [7.0] * 3


def test_split_date_and_time_columns(tmp_path: Path) -> None:
    text = "Date,Time,Open,High,Low,Close,Volume,OpenInterest\n" + "".join(
        f"2006-01-02,09:0{i}:00,{o},{h},{lo},{c},{v},0\n" for i, (o, h, lo, c, v) in enumerate(BARS))
    _check(load_csv(_write(tmp_path, text)), ["2006-01-02 09:00", "2006-01-02 09:01", "2006-01-02 09:02"])


@pytest.mark.parametrize("unit, scale", [("s", 1), ("ms", 1000)])
def test_epoch_timestamps(tmp_path: Path, unit: str, scale: int) -> None:
    base = int(pd.Timestamp("2021-03-01 10:00").timestamp())
    stamps = [str((base + 60 * i) * scale) for i in range(3)]
    df = load_csv(_write(tmp_path, "time,open,high,low,close,volume\n" + _rows(stamps)))
    _check(df, ["2021-03-01 10:00", "2021-03-01 10:01", "2021-03-01 10:02"])


def test_tz_aware_strings_convert_to_utc(tmp_path: Path) -> None:
    stamps = ["2021-03-01 09:30:00-05:00", "2021-03-01 09:31:00-05:00", "2021-03-01 09:32:00-05:00"]
    df = load_csv(_write(tmp_path, "timestamp,open,high,low,close,volume\n" + _rows(stamps)))
    _check(df, ["2021-03-01 14:30", "2021-03-01 14:31", "2021-03-01 14:32"])
    assert df.index.tz is None


def test_declared_tz_for_naive_input(tmp_path: Path) -> None:
    stamps = ["2021-07-01 09:30", "2021-07-01 09:31", "2021-07-01 09:32"]  # EDT = UTC-4
    df = load_csv(_write(tmp_path, "date,open,high,low,close,volume\n" + _rows(stamps)), tz="America/New_York")
    _check(df, ["2021-07-01 13:30", "2021-07-01 13:31", "2021-07-01 13:32"])


def test_declared_tz_nonexistent_time_is_a_clear_error(tmp_path: Path) -> None:
    stamps = ["2021-03-14 01:30", "2021-03-14 02:30", "2021-03-14 03:30"]  # 02:30 does not exist in NY
    path = _write(tmp_path, "date,open,high,low,close,volume\n" + _rows(stamps))
    with pytest.raises(DataValidationError, match=r"cannot read the naive timestamps as 'America/New_York'.*Fix"):
        load_csv(path, tz="America/New_York")


def test_bom_banner_and_gzip(tmp_path: Path) -> None:
    text = "Data from somewhere,https://example.org\ndate,open,high,low,close,volume\n"
    stamps = ["2021-03-01", "2021-03-02", "2021-03-03"]
    df = load_csv(_write(tmp_path, text + _rows(stamps), "b.csv.gz", encoding="utf-8-sig"))
    _check(df, stamps)


def test_newest_first_is_reversed(tmp_path: Path) -> None:
    stamps = ["2021-03-03", "2021-03-02", "2021-03-01"]
    df = load_csv(_write(tmp_path, "date,open,high,low,close,volume\n" + _rows(stamps)))
    assert list(df.index) == [pd.Timestamp(s) for s in reversed(stamps)]
    assert df["open"].tolist() == [b[0] for b in reversed(BARS)]


def test_dayfirst_detection_and_override(tmp_path: Path) -> None:
    text = "Date,Close\n02/01/1990,1\n03/01/1990,2\n18/01/1990,3\n"
    assert load_csv(_write(tmp_path, text), close_only=True).index[0] == pd.Timestamp("1990-01-02")
    ambiguous = "Date,Close\n02/01/1990,1\n03/01/1990,2\n"
    path = _write(tmp_path, ambiguous, "amb.csv")
    assert load_csv(path, close_only=True).index[0] == pd.Timestamp("1990-02-01")  # m/d/Y unless told
    assert load_csv(path, dayfirst=True, close_only=True).index[0] == pd.Timestamp("1990-01-02")


def test_yahoo_adj_close_and_no_volume(tmp_path: Path) -> None:
    yahoo = "Date,Open,High,Low,Close,Adj Close,Volume\n2021-03-01,10,11,9,10,5,100\n"
    df = load_csv(_write(tmp_path, yahoo))
    assert list(df.columns) == ["open", "high", "low", "close", "volume"] and df["close"].item() == 10
    adjusted = load_csv(_write(tmp_path, yahoo), adjust=True)
    assert adjusted.iloc[0].tolist() == [5.0, 5.5, 4.5, 5.0, 200.0]
    no_volume = load_csv(_write(tmp_path, "timestamp,open,high,low,close\n" + _rows(["2021-03-01"], volume=False), "nv.csv"))
    assert no_volume["volume"].tolist() == [0.0]


def test_long_format_symbol(tmp_path: Path) -> None:
    text = "date,ticker,open,high,low,close,volume\n2021-03-01,AAA,10,11,9,10,1\n2021-03-01,BBB,20,21,19,20,2\n"
    path = _write(tmp_path, text)
    assert load_csv(path, symbol="BBB")["close"].tolist() == [20.0]
    with pytest.raises(DataValidationError, match=r"2 symbols: \['AAA', 'BBB'\].*Fix: pass symbol="):
        load_csv(path)
    with pytest.raises(DataValidationError, match=r"symbol 'CCC' not in column 'ticker'"):
        load_csv(path, symbol="CCC")


def test_overrides_for_an_odd_file(tmp_path: Path) -> None:
    text = "when|a|b|c|d\n2021/03/01 10h00|10|11|9|10.5\n"
    path = _write(tmp_path, text)
    df = load_csv(path, sep="|", names=["when", "o", "h", "l", "c"], skiprows=1, header=False,
                  datetime="when", date_format="%Y/%m/%d %Hh%M", open="o", high="h", low="l", close="c")
    assert df.index[0] == pd.Timestamp("2021-03-01 10:00") and df["close"].item() == 10.5


def test_unknown_override_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['datefmt'\].*'date_format'"):
        load_csv(_write(tmp_path, "date,close\n2021-03-01,1\n"), datefmt="%Y")


BAD_FILES = {
    "bad timestamp": ("date,open,high,low,close\n2021-03-01,1,2,0.5,1\n2021-13-45,1,2,0.5,1\n",
                      r"timestamp '2021-13-45' at file line 3 does not parse as '%Y-%m-%d'.*Fix: pass date_format="),
    "text in a price": ("date,open,high,low,close\n2021-03-01,1,2,0.5,1\n2021-03-02,1,2x,0.5,1\n",
                        r"column 'high' \(high\) has a non-numeric value '2x' at file line 3"),
    "empty price": ("date,open,high,low,close\n2021-03-01,1,2,0.5,1\n2021-03-02,1,,0.5,1\n",
                    r"NaN price or volume in 1 row\(s\); first at row 2 \(2021-03-02 00:00:00, file line 3\).*dropna"),
    "duplicate": ("date,open,high,low,close\n2021-03-01,1,2,0.5,1\n2021-03-02,1,2,0.5,1\n2021-03-02,1,2,0.5,1\n",
                  r"duplicate timestamp in 1 row\(s\); first at row 3 \(2021-03-02 00:00:00, file line 4\).*duplicated"),
    "unsorted": ("date,open,high,low,close\n2021-03-01,1,2,0.5,1\n2021-03-03,1,2,0.5,1\n2021-03-02,1,2,0.5,1\n"
                 "2021-03-04,1,2,0.5,1\n", r"unsorted\) in 1 row\(s\); first at row 3 .*file line 4.*sort_index"),
    "zero price": ("date,open,high,low,close\n2021-03-01,1,2,0.5,1\n2021-03-02,0,2,0.5,1\n",
                   r"non-positive price \(<= 0\) in 1 row\(s\); first at row 2 .*file line 3"),
    "high below low": ("date,open,high,low,close\n2021-03-01,1,0.5,2,1\n",
                       r"high below low in 1 row\(s\); first at row 1 \(2021-03-01 00:00:00, file line 2\)"),
    "no timestamp": ("open,high,low,close\n1,2,0.5,1\n", r"no timestamp column found.*none holds dates or times.*Fix: add a date column.*datetime="),
    "header width": ("date,open,high,low,close\n2021-03-01,1,2,0.5,1,5,6,7\n2021-03-02,1,2,0.5,1,5,6,7\n",
                     r"header has 5 names but the first data row has 8 fields.*names="),
    "headerless width": ("2021-03-01,1,2\n2021-03-02,1,2\n", r"no header and 3 fields per row.*names="),
    "empty": ("\n\n", r"the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gives_one_clear_error(tmp_path: Path, case: str) -> None:
    text, pattern = BAD_FILES[case]
    path = _write(tmp_path, text)
    with pytest.raises(DataValidationError, match=pattern) as err:
        load_csv(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_csv(tmp_path / "nope.csv")


def test_blank_lines_keep_line_numbers_right(tmp_path: Path) -> None:
    text = "\ndate,open,high,low,close\n2021-03-01,1,2,0.5,1\n\n2021-03-02,1,2,0.5,1\n2021-03-03,1,0.4,0.5,1\n\n"
    with pytest.raises(DataValidationError, match=r"high below low .* first at row 3 \(2021-03-03 00:00:00, file line 6\)"):
        load_csv(_write(tmp_path, text))


def test_single_data_line_without_header(tmp_path: Path) -> None:
    df = load_csv(_write(tmp_path, "2021-03-01,1,2,0.5,1.5,10\n"))
    assert df.iloc[0].tolist() == [1.0, 2.0, 0.5, 1.5, 10.0]


def test_ragged_row_is_a_clear_error(tmp_path: Path) -> None:
    text = "date,open,high,low,close\n2021-03-01,1,2,0.5,1\n2021-03-02,1,2,0.5,1,9,9\n"
    with pytest.raises(DataValidationError, match=r"pandas cannot read it .*line 3.*Fix: repair the row"):
        load_csv(_write(tmp_path, text))


def test_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"a header \('date,open,high,low,close'\) but no data rows"):
        load_csv(_write(tmp_path, "date,open,high,low,close\n"))


def test_gzip_without_gz_suffix(tmp_path: Path) -> None:
    path = tmp_path / "bars.dat"
    path.write_bytes(gzip.compress(b"date,open,high,low,close\n2021-03-01,1,2,0.5,1.5\n"))
    assert load_csv(path)["close"].tolist() == [1.5]


def test_compact_yyyymmddhhmmss_is_not_read_as_epoch(tmp_path: Path) -> None:
    stamps = ["20110103090100", "20110103090200", "20110103090600"]
    df = load_csv(_write(tmp_path, "datetime,open,high,low,close,volume\n" + _rows(stamps)))
    _check(df, ["2011-01-03 09:01", "2011-01-03 09:02", "2011-01-03 09:06"])


def test_epoch_in_the_wrong_unit_is_a_clear_error(tmp_path: Path) -> None:
    base = int(pd.Timestamp("2021-03-01").timestamp())
    stamps = [str(base + 60 * i) for i in range(3)]
    path = _write(tmp_path, "time,open,high,low,close,volume\n" + _rows(stamps))
    with pytest.raises(DataValidationError, match=r"read as epoch 'ns' span 1970.*Fix: pass epoch="):
        load_csv(path, epoch="ns")
