"""The store's DDL for a ClickHouse cluster, derived from the single-node statements of schemas/sql.

Every MergeTree-family table becomes a replicated `<name>_local` table on each shard plus a Distributed
table under its own name, so every query of leadflow runs unchanged. Materialized views fire on each
shard's local inserts, so they read from and write to the local tables; plain views stay over the
Distributed tables. Every statement runs ON CLUSTER. The statements are parsed with sqlglot and edited in
place: everything the cluster does not change keeps its exact text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

DIALECT = "clickhouse"
CLUSTER = "'{cluster}'"
ON_CLUSTER = f" ON CLUSTER {CLUSTER}"
REPLICA_ARGS = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
LOCAL_SUFFIX = "_local"
SHARD_BY_COLUMNS = ("subject", "lead_id")
"""Columns that name the lead (or the Kafka key), in order of preference: a table with one is sharded by it."""

COLUMN_ACTIONS = frozenset({"ADD", "DROP", "MODIFY", "RENAME", "COMMENT"})

LOCAL_TABLE = "local table"
DISTRIBUTED_TABLE = "distributed table"
TABLE = "table"
VIEW = "view"
MATERIALIZED_VIEW = "materialized view"
ALTER = "alter"
DROP = "drop"

HEADER = """\
-- leadflow's store on a ClickHouse cluster, written by `leadflow schemas cluster-ddl` from schemas/sql/*.sql.
-- Edit those files and run the command again; a test fails while this file differs from its output.
--
-- Each server needs the macros {cluster}, {shard} and {replica}, and ClickHouse Keeper (or ZooKeeper).
-- Apply once, before the first worker starts, with the leadflow database selected:
--     clickhouse-client --database leadflow --multiquery < deploy/clickhouse/cluster.sql
-- The workers' own start-up DDL (CREATE ... IF NOT EXISTS) then finds every name taken and changes nothing.
-- Give the leadflow user distributed_product_mode = 'global': a report's IN and JOIN subqueries over
-- Distributed tables are then computed once and sent to every shard (README, Scaling out).
"""


class ClusterDdlError(ValueError):
    """A single-node statement from which no cluster statement can be derived."""


@dataclass(frozen=True)
class ShardedTable:
    """A MergeTree table of the single-node schema: its local name on each shard and its sharding key."""

    name: str
    local: str
    sharding_key: str
    reason: str


@dataclass(frozen=True)
class ClusterStatement:
    """One statement for the cluster: what kind of object it creates or changes, which one, and a note."""

    sql: str
    kind: str
    name: str
    note: str = ""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def cluster_statements(statements: Sequence[str]) -> list[ClusterStatement]:
    """Return the cluster statements of single-node statements, in order (tables before what uses them)."""
    sharded: dict[str, ShardedTable] = {}
    result: list[ClusterStatement] = []
    for sql in statements:
        converted, sharded = convert_statement(sql.strip().rstrip(";").strip(), sharded)
        result.extend(converted)
    return result


def render(statements: Sequence[ClusterStatement]) -> str:
    """Return the text of the cluster DDL file."""
    parts = [HEADER]
    for statement in statements:
        note = f"-- {statement.note}\n" if statement.note else ""
        parts.append(f"{note}{statement.sql};\n")
    return "\n".join(parts)


def cluster_ddl(statements: Sequence[str]) -> str:
    """Return the cluster DDL file for single-node statements."""
    return render(cluster_statements(statements))


def convert_statement(
    sql: str, sharded: Mapping[str, ShardedTable]
) -> tuple[list[ClusterStatement], dict[str, ShardedTable]]:
    """Return the cluster statements of one statement and the sharded tables known after it."""
    if _keyword(sql, 0) == "ALTER":
        return _alter(sql, sharded), dict(sharded)
    tree = _parse(sql)
    if tree.find(exp.OnCluster):
        raise ClusterDdlError(f"already has ON CLUSTER: {_head(sql)}")
    if isinstance(tree, exp.Create) and tree.args.get("kind") == "TABLE":
        return _create_table(sql, tree, sharded)
    if isinstance(tree, exp.Create) and tree.args.get("kind") == "VIEW":
        return [_create_view(sql, tree, sharded)], dict(sharded)
    if isinstance(tree, exp.Drop) and tree.args.get("kind") in ("TABLE", "VIEW"):
        return _drop(sql, tree, sharded)
    raise ClusterDdlError(f"no cluster form for this kind of statement (teach schemas/cluster.py): {_head(sql)}")


def replicated_engine(engine: str, arguments: str) -> str:
    """Return the Replicated form of a MergeTree-family engine, keeping its own arguments after the replica's."""
    own = f", {arguments.strip()}" if arguments.strip() else ""
    return f"Replicated{engine}({REPLICA_ARGS}{own})"


def sharding_key(columns: Sequence[str], key_columns: Sequence[str]) -> tuple[str, str]:
    """Return a table's sharding key and why: by its lead (or subject) column, else by its sorting key.

    ReplacingMergeTree and AggregatingMergeTree fold rows of one sorting key only within one shard, so the key
    must be a function of columns that every version of a row shares.
    """
    for name in SHARD_BY_COLUMNS:
        if name in columns:
            return f"cityHash64({_identifier(name)})", f"one {name}'s rows on one shard"
    if key_columns:
        names = ", ".join(_identifier(c) for c in key_columns)
        return f"cityHash64({names})", "one sorting key's rows on one shard"
    return "rand()", "no sorting key: rows spread evenly"


def _create_table(
    sql: str, tree: exp.Create, sharded: Mapping[str, ShardedTable]
) -> tuple[list[ClusterStatement], dict[str, ShardedTable]]:
    schema = tree.this
    table = schema.this if isinstance(schema, exp.Schema) else None
    if not isinstance(table, exp.Table) or tree.expression is not None:
        raise ClusterDdlError(f"a table needs its own column list, not AS: {_head(sql)}")
    engine = _engine_clause(sql)
    name_edit = _after_name(table)
    if not _is_merge_tree(engine[0]):
        return [ClusterStatement(_apply(sql, [name_edit]), TABLE, table.name)], dict(sharded)
    columns = [c.name for c in schema.expressions if isinstance(c, exp.ColumnDef)]
    key, reason = sharding_key(columns, _sorting_columns(tree))
    local = ShardedTable(table.name, table.name + LOCAL_SUFFIX, key, reason)
    edits = [_rename(table, local.local, ON_CLUSTER), _Edit(engine[2], engine[3], _engine_text(engine))]
    statements = [
        ClusterStatement(
            _apply(sql, edits), LOCAL_TABLE, local.local, f"{local.local}: this shard's rows of {table.name}"
        ),
        _distributed(tree, table, local),
    ]
    return statements, {**sharded, table.name: local}


def _distributed(tree: exp.Create, table: exp.Table, local: ShardedTable) -> ClusterStatement:
    exists = " IF NOT EXISTS" if tree.args.get("exists") else ""
    prefix = f"{_identifier(table.db)}." if table.db else ""
    database = f"'{table.db}'" if table.db else "currentDatabase()"
    local_name = _identifier(local.local)
    sql = (
        f"CREATE TABLE{exists} {prefix}{_identifier(local.name)}{ON_CLUSTER} AS {prefix}{local_name}\n"
        f"ENGINE = Distributed({CLUSTER}, {database}, {local_name}, {local.sharding_key})"
    )
    note = f"{local.name}: every shard's rows, sharded by {local.sharding_key} ({local.reason})"
    return ClusterStatement(sql, DISTRIBUTED_TABLE, local.name, note)


def _create_view(sql: str, tree: exp.Create, sharded: Mapping[str, ShardedTable]) -> ClusterStatement:
    view = tree.this
    if not isinstance(view, exp.Table):
        raise ClusterDdlError(f"cannot find the view's name: {_head(sql)}")
    properties = tree.args.get("properties")
    if not (properties and properties.find(exp.MaterializedProperty)):
        return ClusterStatement(_apply(sql, [_after_name(view)]), VIEW, view.name)
    target = properties.find(exp.ToTableProperty)
    if target is None or not isinstance(target.this, exp.Table):
        raise ClusterDdlError(f"a materialized view needs TO a table on a cluster: {_head(sql)}")
    edits = [_after_name(view), *_local_edits([target.this, _trigger_table(sql, tree)], sharded)]
    note = f"{view.name}: fires on each shard's inserts into its local table"
    return ClusterStatement(_apply(sql, edits), MATERIALIZED_VIEW, view.name, note)


def _trigger_table(sql: str, tree: exp.Create) -> exp.Table:
    select = tree.expression
    source = select.args.get("from_") if isinstance(select, exp.Select) else None
    if source is None or not isinstance(source.this, exp.Table):
        raise ClusterDdlError(f"a materialized view must SELECT ... FROM the table it follows: {_head(sql)}")
    return source.this


def _local_edits(tables: Sequence[exp.Table], sharded: Mapping[str, ShardedTable]) -> list[_Edit]:
    return [_rename(t, sharded[t.name].local) for t in tables if t.name in sharded]


def _drop(
    sql: str, tree: exp.Drop, sharded: Mapping[str, ShardedTable]
) -> tuple[list[ClusterStatement], dict[str, ShardedTable]]:
    tables = tree.args.get("tables") or []
    if len(tables) != 1 or not isinstance(tables[0], exp.Table):
        raise ClusterDdlError(f"drop one table per statement: {_head(sql)}")
    table = tables[0]
    statements = [ClusterStatement(_apply(sql, [_after_name(table)]), DROP, table.name)]
    if table.name not in sharded:
        return statements, dict(sharded)
    local = _apply(sql, [_rename(table, sharded[table.name].local, ON_CLUSTER)])
    rest = {name: t for name, t in sharded.items() if name != table.name}
    return [*statements, ClusterStatement(local, DROP, sharded[table.name].local)], rest


def _alter(sql: str, sharded: Mapping[str, ShardedTable]) -> list[ClusterStatement]:
    tokens = _tokens(sql)
    if len(tokens) < 4 or tokens[1].text.upper() != "TABLE":
        raise ClusterDdlError(f"only ALTER TABLE has a cluster form: {_head(sql)}")
    name_at = 4 if tokens[3].token_type == TokenType.DOT else 2
    name = tokens[name_at].text
    if [t.text.upper() for t in tokens[name_at + 1 : name_at + 3]] == ["ON", "CLUSTER"]:
        raise ClusterDdlError(f"already has ON CLUSTER: {_head(sql)}")
    after_name = _Edit(tokens[name_at].end + 1, tokens[name_at].end + 1, ON_CLUSTER)
    if name not in sharded:
        return [ClusterStatement(_apply(sql, [after_name]), ALTER, name)]
    local_edit = _Edit(tokens[name_at].start, tokens[name_at].end + 1, _identifier(sharded[name].local) + ON_CLUSTER)
    local = ClusterStatement(_apply(sql, [local_edit]), ALTER, sharded[name].local)
    kinds = _alter_action_kinds(tokens[name_at + 1 :])
    if kinds == {"column"}:
        return [local, ClusterStatement(_apply(sql, [after_name]), ALTER, name)]
    if kinds == {"other"}:
        return [local]
    raise ClusterDdlError(f"split column changes from other changes into two ALTERs: {_head(sql)}")


def _alter_action_kinds(tokens: Sequence[Token]) -> set[str]:
    """Return whether each action of an ALTER changes columns (the Distributed table too) or only the data."""
    kinds: set[str] = set()
    depth, start = 0, True
    for i, token in enumerate(tokens):
        if start:
            column = i + 1 < len(tokens) and tokens[i + 1].text.upper() == "COLUMN"
            kinds.add("column" if column and token.text.upper() in COLUMN_ACTIONS else "other")
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        start = depth == 0 and token.token_type == TokenType.COMMA
    return kinds


def _engine_clause(sql: str) -> tuple[str, str, int, int]:
    """Return (engine, its arguments' text, start, end) of the top-level ENGINE clause of a CREATE TABLE."""
    tokens, depth = _tokens(sql), 0
    for i, token in enumerate(tokens):
        if depth == 0 and token.text.upper() == "ENGINE" and i + 1 < len(tokens):
            at = i + 2 if tokens[i + 1].token_type == TokenType.EQ else i + 1
            return _engine_at(sql, tokens, token.start, at)
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
    raise ClusterDdlError(f"a table needs an ENGINE on a cluster: {_head(sql)}")


def _engine_at(sql: str, tokens: Sequence[Token], start: int, at: int) -> tuple[str, str, int, int]:
    name = tokens[at]
    if at + 1 >= len(tokens) or tokens[at + 1].token_type != TokenType.L_PAREN:
        return name.text, "", start, name.end + 1
    depth = 0
    for token in tokens[at + 1 :]:
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth == 0:
            return name.text, sql[tokens[at + 1].end + 1 : token.start], start, token.end + 1
    raise ClusterDdlError(f"unbalanced ENGINE arguments: {_head(sql)}")


def _engine_text(engine: tuple[str, str, int, int]) -> str:
    return f"ENGINE = {replicated_engine(engine[0], engine[1])}"


def _is_merge_tree(engine: str) -> bool:
    return engine.endswith("MergeTree") and not engine.startswith("Replicated")


def _sorting_columns(tree: exp.Create) -> list[str]:
    order = tree.find(exp.Order)
    names = [c.name for c in order.find_all(exp.Column)] if order else []
    return list(dict.fromkeys(names))


def _parse(sql: str) -> exp.Expr:
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except SqlglotError as exc:
        raise ClusterDdlError(f"cannot parse {_head(sql)}: {exc}") from exc
    if isinstance(tree, exp.Command):
        raise ClusterDdlError(f"cannot parse {_head(sql)}")
    return tree


def _tokens(sql: str) -> list[Token]:
    try:
        return sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql)
    except SqlglotError as exc:
        raise ClusterDdlError(f"cannot read {_head(sql)}: {exc}") from exc


def _keyword(sql: str, index: int) -> str:
    tokens = _tokens(sql)
    return tokens[index].text.upper() if len(tokens) > index else ""


def _position(table: exp.Table) -> tuple[int, int]:
    meta = table.this.meta if isinstance(table.this, exp.Identifier) else {}
    if "start" not in meta:
        raise ClusterDdlError(f"cannot place the name {table.name!r}")
    return int(meta["start"]), int(meta["end"]) + 1


def _after_name(table: exp.Table) -> _Edit:
    end = _position(table)[1]
    return _Edit(end, end, ON_CLUSTER)


def _rename(table: exp.Table, name: str, suffix: str = "") -> _Edit:
    start, end = _position(table)
    return _Edit(start, end, _identifier(name) + suffix)


def _apply(sql: str, edits: Sequence[_Edit]) -> str:
    text = sql
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


def _identifier(name: str) -> str:
    return exp.to_identifier(name).sql(dialect=DIALECT)


def _head(sql: str) -> str:
    return " ".join(sql.split())[:80]
