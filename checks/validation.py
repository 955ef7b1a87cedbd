"""The validation engine: typed parsing, scope, council codes and pandera, lazily, with a
quarantine that accounts for every raw row that does not pass.

A source's rules live in its `StagingSpec` (checks/schemas/): which columns to parse as what,
which rows are in scope, which column holds a council code, any derived columns, and the
pandera model. The engine applies them in that order and never drops a row: each raw row ends
up either in the validated frame or in the quarantine, with file, row, column, check and value.

Count invariant, per load: raw rows = validated rows + distinct quarantined rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

ROW_ID = "_row_id"
KEY_COLUMNS = ["load_id", "source_path", "source_row_number", "source_column"]

REJECTED = "rejected"
OUT_OF_SCOPE = "out_of_scope"
DUPLICATE = "duplicate"
# A row another edition of the same table states afresh (the newer edition wins).
SUPERSEDED = "superseded"
# Columns that describe where a row came from rather than what it says.
META_COLUMNS = {
    "load_id",
    "source_path",
    "file_sha256",
    "loaded_at",
    "source_row_number",
    "extra",
    "load_period",
    "load_theme",
    "load_published",
}

QUARANTINE_SCHEMA = {
    "source_id": pl.String,
    "load_id": pl.String,
    "source_path": pl.String,
    "source_row_number": pl.Int64,
    "source_column": pl.String,
    "column_name": pl.String,
    "check_name": pl.String,
    "failure_value": pl.String,
    "disposition": pl.String,
    "reason": pl.String,
}

# Cells that mean "no figure here" in official tables, as opposed to a malformed figure.
NOT_AVAILABLE_MARKERS = [
    "",
    "-",
    "..",
    "...",
    "…",
    ":",
    "x",
    "[x]",
    "[z]",
    "[c]",
    "[u]",
    "n/a",
    "na",
]
SPREADSHEET_ERRORS = ["#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"]


class StructuralValidationError(Exception):
    """Validation could not run row by row: the table itself is the wrong shape."""


@dataclass(frozen=True)
class Scope:
    """Rows a source holds that are not councils (totals, police, Wales...): kept out of the
    validated table on purpose, recorded in the quarantine as out of scope, never silently."""

    keep: pl.Expr
    reason: str


@dataclass(frozen=True)
class CouncilCodeRule:
    """Which column holds a council code; it is resolved through the register's code map."""

    column: str = "council_code"
    # "gss": the column holds GSS codes, resolved through the register's code map (former
    # codes to their council); "register_code": it holds mySociety register codes; "name": it
    # holds a council's name as the source spells it, matched (after `council_name_key`) to
    # the register's names and the name lookup's variants.
    via: str = "gss"
    # Codes of these prefixes that are not in the register are rejected; any other code
    # (regions, England, police areas) is out of scope rather than an error.
    council_prefixes: tuple[str, ...] = ("E06", "E07", "E08", "E09", "E10")
    # A second identifier tried when the first is not in the register (finance returns also
    # carry the department's E-code, which survives GSS code changes; registers transcribed
    # from web pages carry only the council's name: fallback_via "name").
    fallback_column: str | None = None
    fallback_via: str = "ecode"
    # For names: the date a row speaks of (an expression on the raw row). A name two councils
    # have borne ("Somerset": the county until 1 April 2023, the unitary from then) means the
    # one in being on that date; without a date, such a name is rejected as ambiguous.
    on_date: pl.Expr | None = None
    # For names: a source's own name variants, matched beside the register's names
    # (staging/name_code_map): the SQL (sql/) that lists them, and the validated tables it reads.
    extra_name_map_sql: str | None = None
    name_map_needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Supersede:
    """Rows that a newer edition of the same table states again: for each `key`, only the rows
    of the highest `edition` pass; the others are kept in the quarantine as superseded."""

    key: tuple[str, ...]
    edition: str
    reason: str


@dataclass(frozen=True)
class StagingSpec:
    model: type[pa.DataFrameModel]
    parse: dict[str, pl.DataType] = field(default_factory=dict)
    # One scope, or several applied in turn (each with its own reason).
    scope: Scope | tuple[Scope, ...] | None = None
    council_code: CouncilCodeRule | None = None
    derive: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    output_columns: list[str] | None = None
    # Cells that this source uses to say "not reported" (a state, never a number), beyond
    # NOT_AVAILABLE_MARKERS: e.g. a compilation that copies #N/A or #VALUE! for a return that
    # was not made. In the parsed columns they become empty, and the names of the columns
    # that held one are listed in `not_reported_columns`.
    not_reported_markers: tuple[str, ...] = ()
    # Rows a newer edition of the same table states again (kept in quarantine as superseded).
    supersede: Supersede | None = None


@dataclass
class Staged:
    valid: pl.DataFrame
    quarantine: pl.DataFrame

    @property
    def quarantined_rows(self) -> int:
        return (
            self.quarantine.select(pl.struct(KEY_COLUMNS).n_unique()).item()
            if len(self.quarantine)
            else 0
        )


def _quarantine_rows(
    rows: pl.DataFrame,
    *,
    source_id: str,
    column: str | pl.Expr,
    check: str,
    value: pl.Expr,
    disposition: str,
    reason: str | pl.Expr,
) -> pl.DataFrame:
    column_expr = pl.lit(column) if isinstance(column, str) else column
    reason_expr = pl.lit(reason) if isinstance(reason, str) else reason
    return rows.select(
        pl.lit(source_id).alias("source_id"),
        pl.col("load_id"),
        pl.col("source_path"),
        pl.col("source_row_number").cast(pl.Int64),
        pl.col("source_column"),
        column_expr.cast(pl.String).alias("column_name"),
        pl.lit(check).alias("check_name"),
        value.cast(pl.String).alias("failure_value"),
        pl.lit(disposition).alias("disposition"),
        reason_expr.cast(pl.String).alias("reason"),
    )


def _clean_number(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars().str.replace_all(",", "").str.replace(r"^£", "")
    return pl.when(text.str.to_lowercase().is_in(NOT_AVAILABLE_MARKERS)).then(None).otherwise(text)


def _parse_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Date:
        return (
            pl.col(column).str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        )
    if dtype.is_integer():
        # A whole number only: "1.5" in an integer column is an error, not 1; so is a number
        # too large for the type (non-strict cast: null, then rejected, rather than a crash).
        number = _clean_number(column).cast(pl.Float64, strict=False)
        whole = number.is_finite() & (number == number.round())
        return pl.when(whole).then(number).otherwise(None).cast(dtype, strict=False)
    if dtype.is_numeric():
        # "NaN", "inf" or 1e309 are not figures: rejected like any other text, never passed on.
        number = _clean_number(column).cast(pl.Float64, strict=False)
        return pl.when(number.is_finite()).then(number).otherwise(None).cast(dtype, strict=False)
    if dtype == pl.Boolean:
        lowered = pl.col(column).str.strip_chars().str.to_lowercase()
        return (
            pl.when(lowered.is_in(["true", "yes", "1"]))
            .then(True)
            .when(lowered.is_in(["false", "no", "0"]))
            .then(False)
            .otherwise(None)
        )
    return pl.col(column).str.strip_chars()


def _parse(frame: pl.DataFrame, spec: StagingSpec, source_id: str) -> tuple[pl.DataFrame, list]:
    """Cast text to types; a cell that has text but no value of the type is rejected."""
    failures: list[pl.DataFrame] = []
    parsed = frame.with_columns(
        [_parse_expr(c, t).alias(f"__parsed_{c}") for c, t in spec.parse.items()]
    )
    failed_flags: dict[str, pl.Expr] = {}
    for column, dtype in spec.parse.items():
        had_text = pl.col(column).is_not_null()
        if dtype.is_numeric():
            had_text = _clean_number(column).is_not_null()
        elif dtype != pl.String:
            had_text = had_text & (pl.col(column).str.strip_chars() != "")
        failed_flags[column] = (had_text & pl.col(f"__parsed_{column}").is_null()).alias(
            f"__failed_{column}"
        )
    # Every column's failures flagged in one pass; the frame is only filtered (copied) where
    # something failed, which on a big clean file is nowhere.
    parsed = parsed.with_columns(list(failed_flags.values()))
    failed_columns = [
        column for column in spec.parse if parsed.get_column(f"__failed_{column}").any()
    ]
    for column, dtype in spec.parse.items():
        if column in failed_columns:
            bad = parsed.filter(pl.col(f"__failed_{column}"))
            is_formula_error = pl.col(column).str.strip_chars().is_in(SPREADSHEET_ERRORS)
            failures.append(
                _quarantine_rows(
                    bad,
                    source_id=source_id,
                    column=column,
                    check=f"parse as {dtype}",
                    value=pl.col(column),
                    disposition=REJECTED,
                    reason=pl.when(is_formula_error)
                    .then(pl.lit("spreadsheet formula error in the cell"))
                    .otherwise(pl.lit(f"not a valid {dtype}")),
                )
            )
    kept = (
        parsed.filter(~pl.any_horizontal([f"__failed_{c}" for c in failed_columns]))
        if failed_columns
        else parsed
    )
    kept = kept.with_columns([pl.col(f"__parsed_{c}").alias(c) for c in spec.parse])
    helpers = [f"__{kind}_{c}" for c in spec.parse for kind in ("parsed", "failed")]
    return kept.drop(helpers), failures


def _mark_not_reported(frame: pl.DataFrame, spec: StagingSpec) -> pl.DataFrame:
    """Empty the parsed columns' "not reported" cells and list, per row, which columns held
    one (comma-separated, in `not_reported_columns`; null when none)."""
    markers = [m.lower() for m in spec.not_reported_markers]
    flags = {
        c: pl.col(c).str.strip_chars().str.to_lowercase().is_in(markers).fill_null(False)
        for c in spec.parse
    }
    listed = pl.concat_list(
        [pl.when(flag).then(pl.lit(c)).otherwise(pl.lit(None)) for c, flag in flags.items()]
    ).list.drop_nulls()
    return frame.with_columns(
        pl.when(listed.list.len() > 0)
        .then(listed.list.join(","))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("not_reported_columns"),
        *[pl.when(flag).then(None).otherwise(pl.col(c)).alias(c) for c, flag in flags.items()],
    )


def _unambiguous(code_map: pl.DataFrame) -> pl.DataFrame:
    """One council per code: a code that points at two councils cannot say which is meant."""
    return (
        code_map.group_by("code")
        .agg(pl.col("council_code").unique())
        .filter(pl.col("council_code").list.len() == 1)
        .select("code", pl.col("council_code").list.first())
    )


def _looked_up(codes: pl.Expr, code_map: pl.DataFrame) -> pl.Expr:
    """Each code's council in a map of unique codes (`_unambiguous`), null where there is none:
    what a left join on the code gives, row for row, without copying every column of a big
    frame to join it."""
    known = code_map.filter(pl.col("code").is_not_null())
    return codes.replace_strict(
        known.get_column("code"),
        known.get_column("council_code"),
        default=None,
        return_dtype=pl.String,
    )


def _resolve_codes(
    frame: pl.DataFrame,
    rule: CouncilCodeRule,
    code_maps: dict[str, pl.DataFrame],
    source_id: str,
) -> tuple[pl.DataFrame, list]:
    """Map each code to the register's council code (former codes to current ones).

    The resolved code goes to `council_code`; the code as the source gave it is kept in
    `source_council_code`."""
    column = rule.column
    if rule.via == "name":
        # A name is kept as the source spelt it; _resolve_names does the matching.
        stripped = pl.col(column).str.strip_chars()
        looked_up = pl.lit(None, dtype=pl.String)
    else:
        stripped = pl.col(column).str.strip_chars().str.to_uppercase()
        looked_up = _looked_up(pl.col("source_council_code"), _unambiguous(code_maps[rule.via]))
    joined = frame.with_columns(
        pl.when(stripped == "").then(None).otherwise(stripped).alias("source_council_code")
    ).with_columns(looked_up.alias("__resolved"))
    joined = joined.with_columns(
        pl.when(pl.col("__resolved").is_not_null())
        .then(pl.lit(rule.via))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("code_resolved_by")
    )
    if rule.via == "name":
        joined = _resolve_names(
            joined, pl.col("source_council_code"), code_maps["name"], rule.on_date
        )
    if rule.fallback_column is not None and rule.fallback_via == "name":
        # A row with no code is matched by its name; one with a code, by its code alone: an
        # unknown code is an error to report, not something a name may paper over.
        stated = (
            pl.when(pl.col("source_council_code").is_null())
            .then(pl.col(rule.fallback_column).str.strip_chars())
            .otherwise(None)
        )
        joined = _resolve_names(joined, stated, code_maps["name"], rule.on_date)
    elif rule.fallback_column is not None:
        fallback = _unambiguous(code_maps[rule.fallback_via])
        joined = (
            joined.with_columns(
                pl.col(rule.fallback_column)
                .str.strip_chars()
                .str.to_uppercase()
                .alias("__fallback_code")
            )
            .with_columns(_looked_up(pl.col("__fallback_code"), fallback).alias("__fallback"))
            .with_columns(
                pl.when(pl.col("__resolved").is_null() & pl.col("__fallback").is_not_null())
                .then(pl.lit(rule.fallback_via))
                .otherwise(pl.col("code_resolved_by"))
                .alias("code_resolved_by"),
                pl.coalesce("__resolved", "__fallback").alias("__resolved"),
            )
            .drop("__fallback_code", "__fallback")
        )
    unresolved = joined.filter(pl.col("__resolved").is_null())
    failures: list[pl.DataFrame] = []
    if len(unresolved):
        code = pl.col("source_council_code")
        is_council_code = code.is_null() | code.str.slice(0, 3).is_in(list(rule.council_prefixes))
        if rule.via == "name":
            # A source that names councils names nothing else: a name that matches no council
            # (or two) is an error to look at, not an out-of-scope body.
            is_council_code = pl.lit(True)
        elif rule.via != "gss":
            is_council_code = pl.lit(False)
        missing: str | pl.Expr = "council code missing, or not in the register (nor a former code)"
        if rule.via == "name":
            missing = (
                "council name missing, or it matches no council (or more than one, and the row's "
                "date does not say which) in the register's names and name lookup, exactly nor "
                "once 'Council', 'Borough of' and the like are set aside"
            )
        elif rule.fallback_via == "name" and rule.fallback_column is not None:
            # A row with no code was matched by name; one with a code, by its code alone.
            missing = (
                pl.when(pl.col("source_council_code").is_null())
                .then(
                    pl.lit(
                        "no council code, and the council name matches no English council in "
                        "the register's name lookup (exactly, nor once 'Council', 'Borough of' "
                        "and the like are set aside), or matches more than one"
                    )
                )
                .otherwise(pl.lit(missing))
            )
        for flag, disposition, reason in (
            (True, REJECTED, missing),
            (False, OUT_OF_SCOPE, "not an English council (a total, region or other body)"),
        ):
            part = unresolved.filter(is_council_code == flag)
            if len(part):
                failures.append(
                    _quarantine_rows(
                        part,
                        source_id=source_id,
                        column=column,
                        check="council name in register"
                        if rule.via == "name"
                        else "council code in register",
                        value=pl.col(column),
                        disposition=disposition,
                        reason=reason,
                    )
                )
    resolved = (
        joined.filter(pl.col("__resolved").is_not_null())
        .with_columns(pl.col("__resolved").alias("council_code"))
        .drop("__resolved")
    )
    return resolved, failures


# Words a council's name carries in one source and not another ("London Borough of Croydon",
# "Croydon"; "Middlesbrough Council", "Middlesbrough"): set aside only when the exact name is
# not in the lookup, and a shortened name that fits two councils matches neither.
_NAME_PREFIXES = (
    "the ",
    "london borough of ",
    "royal borough of ",
    "borough council of ",
    "city of ",
    "council of the ",
    "county of ",
)
_NAME_SUFFIXES = (" council", " city", " borough", " district", " county", " metropolitan")


def council_name_key(name: pl.Expr) -> pl.Expr:
    """A council name with case, punctuation and generic words ('Council', 'Borough of')
    set aside: 'Borough Council of King's Lynn and West Norfolk' -> 'kings lynn and west
    norfolk'."""
    key = (
        name.str.to_lowercase()
        .str.replace_all("&", " and ", literal=True)
        .str.replace_all(r"[’'`]", "")
        .str.replace_all(r"[^a-z0-9]+", " ")
        .str.strip_chars()
    )
    for prefix in _NAME_PREFIXES:
        key = key.str.strip_prefix(prefix)
    # Suffixes come off one at a time ("... Metropolitan Borough Council").
    for _ in range(3):
        for suffix in _NAME_SUFFIXES:
            key = key.str.strip_suffix(suffix)
    return key.str.strip_chars()


def plain_council_name(names: pl.Expr) -> pl.Expr:
    """A council name with only case and punctuation set aside, `&` read as `and`:
    "Bournemouth, Christchurch & Poole" -> "BOURNEMOUTH CHRISTCHURCH AND POOLE"."""
    return (
        names.str.to_uppercase()
        .str.replace_all("&", " AND ", literal=True)
        .str.replace_all(r"[’'`]", "")
        .str.replace_all(r"[^A-Z0-9]+", " ")
        .str.strip_chars()
    )


# How a name was matched, most exact first: a row takes the first that names one council.
_NAME_MATCHES = (
    ("name", plain_council_name),
    ("name (generic words set aside)", council_name_key),
)


def _resolve_names(
    frame: pl.DataFrame, stated: pl.Expr, names: pl.DataFrame, on_date: pl.Expr | None
) -> pl.DataFrame:
    """Rows not yet resolved, matched by the council name `stated` (null: not to be matched)
    against the register's names and the name lookup's variants (`names`: code = a name,
    council_code, and the council's start_date and end_date). The plain name is tried first,
    then its `council_name_key`. A name that fits two councils means the one in being on the
    row's date (`on_date`), if the source says which date a row speaks of and exactly one
    council was in being then ("Somerset": the county until 1 April 2023, the unitary after);
    otherwise it matches neither."""
    rows = frame.with_row_index("__row").with_columns(
        stated.alias("__stated"),
        (on_date if on_date is not None else pl.lit(None, dtype=pl.Date)).alias("__on"),
    )
    todo = rows.filter(pl.col("__resolved").is_null() & pl.col("__stated").is_not_null())
    if todo.is_empty():
        return frame
    dates = [c for c in ("start_date", "end_date") if c in names.columns]
    picks = []
    for rank, (how, reduce) in enumerate(_NAME_MATCHES):
        mapped = names.select(
            reduce(pl.col("code")).alias("__key"), "council_code", *dates
        ).unique()
        if len(dates) < 2:
            mapped = mapped.with_columns(
                pl.lit(None, dtype=pl.Date).alias("start_date"),
                pl.lit(None, dtype=pl.Date).alias("end_date"),
            )
        in_being = (pl.col("start_date").is_null() | (pl.col("start_date") <= pl.col("__on"))) & (
            pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("__on"))
        )
        candidates = (
            todo.select("__row", "__on", reduce(pl.col("__stated")).alias("__key"))
            .join(mapped, on="__key")
            .group_by("__row")
            .agg(
                pl.col("council_code").unique().alias("__all"),
                pl.col("council_code").filter(in_being.fill_null(False)).unique().alias("__dated"),
            )
        )
        one = pl.col("__all").list.len() == 1
        dated = pl.col("__dated").list.len() == 1
        picks.append(
            candidates.select(
                "__row",
                pl.when(one)
                .then(pl.col("__all").list.first())
                .when(dated)
                .then(pl.col("__dated").list.first())
                .alias("__by_name"),
                pl.when(one)
                .then(pl.lit(how))
                .when(dated)
                .then(pl.lit(f"{how} in being on the row's date"))
                .alias("__how"),
                pl.lit(rank).alias("__rank"),
            ).filter(pl.col("__by_name").is_not_null())
        )
    best = pl.concat(picks).sort("__rank").unique("__row", keep="first").drop("__rank")
    return (
        rows.join(best, on="__row", how="left")
        .with_columns(
            pl.when(pl.col("__resolved").is_null() & pl.col("__by_name").is_not_null())
            .then(pl.col("__how"))
            .otherwise(pl.col("code_resolved_by"))
            .alias("code_resolved_by"),
            pl.coalesce("__resolved", "__by_name").alias("__resolved"),
        )
        .sort("__row")
        .drop("__row", "__stated", "__on", "__by_name", "__how")
    )


def _superseded(frame: pl.DataFrame, rule: Supersede, source_id: str) -> tuple[pl.DataFrame, list]:
    """Keep, per key, the rows of the newest edition; quarantine the others as superseded."""
    if frame.is_empty():
        return frame, []
    newest = pl.col(rule.edition) == pl.col(rule.edition).max().over(list(rule.key))
    older = frame.filter(~newest.fill_null(True))
    if older.is_empty():
        return frame, []
    failure = _quarantine_rows(
        older,
        source_id=source_id,
        column=rule.edition,
        check="newest edition",
        value=pl.col(rule.edition),
        disposition=SUPERSEDED,
        reason=rule.reason,
    )
    return frame.filter(newest.fill_null(True)), [failure]


_HASHABLE = (pl.String, pl.Boolean, pl.Date, pl.Datetime)


def _may_have_repeats(frame: pl.DataFrame, columns: list[str]) -> bool:
    """False only if no two rows can agree on every column: no two rows share a hash of them.
    Much cheaper than grouping by every column of a big frame; where two rows do share a hash
    (or a column's type is not plainly hashable) the caller groups as before. Floats are
    hashed as x + 0.0, so -0.0 and 0.0, which compare equal, hash equal."""
    schema = frame.schema
    if not all(isinstance(schema[c], _HASHABLE) or schema[c].is_numeric() for c in columns):
        return True
    keys = [pl.col(c) + 0.0 if schema[c].is_float() else pl.col(c) for c in columns]
    # hash_rows hashes the columns in place; a struct of them is built first (5x slower).
    return bool(frame.select(keys).hash_rows().is_duplicated().any())


def _exact_duplicates(frame: pl.DataFrame, source_id: str) -> tuple[pl.DataFrame, list]:
    """A row that repeats an earlier row of the same load word for word adds nothing: the first
    is kept, the repeats are quarantined as duplicates. Rows that share a key but differ are
    left for the schema's uniqueness check, which rejects all of them (which one is right is
    not ours to guess)."""
    content = [c for c in frame.columns if c not in META_COLUMNS]
    if frame.is_empty() or not content:
        return frame, []
    if not _may_have_repeats(frame, ["load_id", *content]):
        return frame, []
    marked = frame.with_columns(
        pl.col("source_row_number").min().over(["load_id", *content]).alias("__first")
    )
    is_repeat = pl.col("source_row_number") != pl.col("__first")
    repeats = marked.filter(is_repeat)
    if repeats.is_empty():
        return frame, []
    failure = _quarantine_rows(
        repeats,
        source_id=source_id,
        column="(row)",
        check="exact duplicate",
        value=pl.col("__first"),
        disposition=DUPLICATE,
        reason=pl.format("repeats row {} of the same file word for word", pl.col("__first")),
    )
    return marked.filter(~is_repeat).drop("__first"), [failure]


def _pandera(frame: pl.DataFrame, spec: StagingSpec, source_id: str) -> tuple[pl.DataFrame, list]:
    indexed = frame.with_row_index(ROW_ID)
    try:
        spec.model.validate(indexed.drop(ROW_ID), lazy=True)
        return frame, []
    except pa.errors.SchemaErrors as error:
        cases = error.failure_cases
    except pl.exceptions.PolarsError as error:
        raise StructuralValidationError(f"{spec.model.__name__}: {error}") from error
    table_level = cases.filter(pl.col("index").is_null())
    if len(table_level):
        problems = "; ".join(
            f"{r['column']}: {r['check']} ({r['failure_case']})" for r in table_level.to_dicts()
        )
        raise StructuralValidationError(f"{spec.model.__name__}: {problems}")
    cases = cases.with_columns(pl.col("index").cast(pl.UInt32).alias(ROW_ID))
    failing = indexed.join(cases.select(ROW_ID, "column", "check", "failure_case"), on=ROW_ID)
    failures = [
        _quarantine_rows(
            failing,
            source_id=source_id,
            column=pl.when(pl.col("column") == spec.model.__name__)
            .then(pl.lit("(row)"))
            .otherwise(pl.col("column")),
            check="schema",
            value=pl.col("failure_case"),
            disposition=REJECTED,
            reason=pl.col("check"),
        )
    ]
    bad_ids = cases.get_column(ROW_ID).unique()
    return indexed.filter(~pl.col(ROW_ID).is_in(bad_ids.implode())).drop(ROW_ID), failures


def stage_rows(
    raw: pl.DataFrame,
    spec: StagingSpec,
    source_id: str,
    code_maps: dict[str, pl.DataFrame] | None = None,
    publication_lag_days: int | None = None,
) -> Staged:
    """Validate raw rows: everything either passes or is quarantined with a reason."""
    failures: list[pl.DataFrame] = []
    frame = raw
    scopes = spec.scope if isinstance(spec.scope, tuple) else (spec.scope,)
    for scope in (s for s in scopes if s is not None):
        out = frame.filter(~scope.keep.fill_null(False))
        if len(out):
            failures.append(
                _quarantine_rows(
                    out,
                    source_id=source_id,
                    column="(row)",
                    check="in scope",
                    value=pl.lit(None),
                    disposition=OUT_OF_SCOPE,
                    reason=scope.reason,
                )
            )
        frame = frame.filter(scope.keep.fill_null(False))
    if spec.not_reported_markers:
        frame = _mark_not_reported(frame, spec)
    frame, parse_failures = _parse(frame, spec, source_id)
    failures += parse_failures
    if spec.council_code is not None:
        maps = code_maps or {}
        needed = {spec.council_code.via}
        if spec.council_code.fallback_column:
            needed.add(spec.council_code.fallback_via)
        if needed - set(maps):
            raise ValueError(f"{source_id}: council codes need the {sorted(needed)} maps")
        frame, code_failures = _resolve_codes(frame, spec.council_code, maps, source_id)
        failures += code_failures
    frame, duplicate_failures = _exact_duplicates(frame, source_id)
    failures += duplicate_failures
    if spec.derive is not None:
        frame = spec.derive(frame)
    if spec.supersede is not None:
        frame, superseded = _superseded(frame, spec.supersede, source_id)
        failures += superseded
    frame, schema_failures = _pandera(frame, spec, source_id)
    failures += schema_failures
    quarantine = (
        pl.concat(failures, how="vertical_relaxed")
        if failures
        else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    )
    valid = frame.select(spec.output_columns) if spec.output_columns else frame
    if publication_lag_days is not None:
        valid = with_publication_date(valid, publication_lag_days)
    return Staged(valid=valid, quarantine=quarantine.select(list(QUARANTINE_SCHEMA)))


def with_publication_date(frame: pl.DataFrame, lag_days: int) -> pl.DataFrame:
    """When each row became public: its own date if the source gives one, else the end of its
    period plus the source's usual publication lag (catalogue `publication_lag_days`)."""
    end = next((c for c in ("period_end", "quarter_end") if c in frame.columns), None)
    if end is None:
        return frame
    estimated = pl.col(end) + pl.duration(days=lag_days)
    given = pl.col("published_date") if "published_date" in frame.columns else pl.lit(None)
    return frame.with_columns(
        pl.coalesce(given.cast(pl.Date), estimated).alias("published_date"),
        pl.when(given.is_not_null())
        .then(pl.lit("stated"))
        .otherwise(pl.lit(f"estimated: period end + {lag_days} days"))
        .alias("published_date_basis"),
    )


def count_invariant(raw: pl.DataFrame, staged: Staged) -> pl.DataFrame:
    """Per load: raw rows, validated rows, distinct quarantined rows, and whether they add up."""
    return count_invariant_from_counts(
        load_counts(raw, "raw_rows"), load_counts(staged.valid, "validated_rows"), staged.quarantine
    )


def load_counts(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Rows per load (`load_id`, `name`); none when the frame does not keep the load id."""
    if "load_id" in frame.columns:
        return frame.group_by("load_id").agg(pl.len().alias(name))
    return pl.DataFrame(schema={"load_id": pl.String, name: pl.UInt32})


def count_invariant_from_counts(
    raw_counts: pl.DataFrame, valid_counts: pl.DataFrame, quarantine: pl.DataFrame
) -> pl.DataFrame:
    """`count_invariant` from rows per load (`load_counts`) and the whole quarantine, for a
    source validated in partitions (the counts of its partitions added up per load)."""
    quarantined = (
        quarantine.unique(KEY_COLUMNS).group_by("load_id").agg(pl.len().alias("quarantined_rows"))
    )
    return (
        raw_counts.join(valid_counts, on="load_id", how="left")
        .join(quarantined, on="load_id", how="left")
        .with_columns(
            pl.col("validated_rows").fill_null(0).cast(pl.Int64),
            pl.col("quarantined_rows").fill_null(0).cast(pl.Int64),
            pl.col("raw_rows").cast(pl.Int64),
        )
        .with_columns(
            (pl.col("raw_rows") == pl.col("validated_rows") + pl.col("quarantined_rows")).alias(
                "balanced"
            )
        )
        .sort("load_id")
    )
