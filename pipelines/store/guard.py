"""What a read on an embedded store may touch, decided on ClickHouse's own parse of the query.

chDB is clickhouse-local, and there readonly mode leaves two doors open that a server closes: `INTO OUTFILE` (a
client feature, which only a server's HTTP interface refuses) and the `file()` function (which checks
`user_files_path` only on a server, src/Functions/FunctionFile.cpp). ClickHouse itself parses every read
(`parseQueryToJSON`, its parser's tree as JSON) and the read runs, as ClickHouse formats that same tree back
(`formatQueryFromJSON`), only if the tree is one SELECT that writes nowhere, reads only the store's own tables and
calls only functions whose ClickHouse category is computation on values (`system.functions`): no file, network,
dictionary, introspection or server-state function, whatever it is named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipelines.store.exceptions import QueryRefused

PARSE = "SELECT parseQueryToJSON({sql:String}) AS tree, formatQueryFromJSON(tree)"
CATALOGUE = "SELECT name, categories, alias_to, case_insensitive, is_aggregate FROM system.functions"
COMBINATORS = "SELECT name FROM system.aggregate_function_combinators"
OWN_TABLES = "SELECT currentDatabase(), name FROM system.tables WHERE database = currentDatabase()"

# ClickHouse's categories of functions that compute on their arguments only
PURE_CATEGORIES = frozenset(
    {
        "Aggregate Functions", "Arithmetic", "Arrays", "Bit", "Bitmap", "Comparison", "Conditional", "Dates and Times",
        "Distance", "Encoding", "Encryption", "Financial", "Geo", "Geo Polygon", "Hash", "IP Address", "JSON",
        "Logical", "Map", "Mathematical", "Null", "NumericIndexedVector", "QBit", "Random Number", "Rounding",
        "String", "String Replacement", "String Search", "String Splitting", "Time Series", "Time Window", "Tuple",
        "Type Conversion", "URL", "UUID",
    }
)  # fmt: skip
# "Other" mixes server state and I/O (file, hostName, getSetting, sleep, joinGet ...) with these pure ones
PURE_OTHERS = frozenset(
    {
        "bar", "byteSize", "countDigits", "defaultValueOfArgumentType", "defaultValueOfTypeName", "finalizeAggregation",
        "formatReadableDecimalSize", "formatReadableQuantity", "formatReadableSize", "formatReadableTimeDelta",
        "getSizeOfEnumType", "getSubcolumn", "identity", "ignore", "initializeAggregation", "isConstant",
        "isDecimalOverflow", "materialize", "neighbor", "parseReadableSize", "parseReadableSizeOrNull",
        "parseReadableSizeOrZero", "parseTimeDelta", "runningAccumulate", "runningDifference",
        "runningDifferenceStartingWithFirstValue", "throwIf", "toColumnTypeName", "toTypeName", "transform",
        "variantElement", "variantType", "visibleWidth",
    }
)  # fmt: skip
LAMBDA = "lambda"  # `x -> f(x)`: the parser's own node, not in system.functions; its body is checked like any other
# table functions that generate values and read nothing
GENERATORS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "generateSeries", "generate_series", "values"})
IN_FAMILY = frozenset(
    {"in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn", "globalNullIn", "globalNotNullIn"}
)
READS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery"})
IDENTIFIER_PARAMETER = "a query parameter of type Identifier is refused: tables are named in the query"


@dataclass(frozen=True)
class Catalogue:
    """What the engine knows: its functions' categories (aliases resolved), combinators and the store's tables."""

    categories: dict[str, str]
    folded: dict[str, str]  # case-insensitive functions, by lower-case name
    aggregates: frozenset[str]
    combinators: tuple[str, ...]
    database: str
    tables: frozenset[str]

    def category(self, name: str) -> str | None:
        """Return the category of a function as ClickHouse resolves its name, combinators included."""
        found = self.categories.get(name) or self.folded.get(name.lower())
        if found is not None:
            return found
        for suffix in self.combinators:
            base = name[: -len(suffix)]
            if name.endswith(suffix) and base and self._aggregate(base):
                return "Aggregate Functions"
        return None

    def _aggregate(self, name: str) -> bool:
        return name in self.aggregates or self.category(name) == "Aggregate Functions"


def load_catalogue(client: Any) -> Catalogue:
    """Read the function catalogue and the store's own tables from the engine."""
    rows = client.query(CATALOGUE).result_rows
    own = {name: category for name, category, alias, _ci, _agg in rows if not alias}
    categories = {name: own.get(alias or name, category) for name, category, alias, _ci, _agg in rows}
    folded = {name.lower(): categories[name] for name, _c, _a, insensitive, _agg in rows if insensitive}
    aggregates = frozenset(name for name, *_rest, aggregate in rows if aggregate)
    combinators = sorted((r[0] for r in client.query(COMBINATORS).result_rows), key=len, reverse=True)
    tables = client.query(OWN_TABLES).result_rows
    database = tables[0][0] if tables else client.query("SELECT currentDatabase()").result_rows[0][0]
    return Catalogue(categories, folded, aggregates, tuple(combinators), database, frozenset(t[1] for t in tables))


class ReadPolicy:
    """Checks ClickHouse's parse of a read against the catalogue; refuses with the reason in one line."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def checked(self, client: Any, sql: str) -> str:
        """Return the SQL that ClickHouse formats from its parse of `sql`, once its tree passed every check."""
        tree_json, formatted = client.query(PARSE, parameters={"sql": sql}).result_rows[0]
        try:
            tree = json.loads(tree_json)
        except RecursionError:
            raise QueryRefused("the query is nested too deeply to be checked") from None
        self.check(tree)
        return str(formatted)

    def check(self, tree: dict[str, Any]) -> None:
        """Raise QueryRefused unless the tree is one read of the store's tables through pure functions."""
        if tree.get("type") not in READS:
            raise QueryRefused(f"only one SELECT query is answered, not {tree.get('type', 'this statement')}")
        nodes = list(_nodes(tree))
        ctes = {str(node.get("name")) for node in nodes if node.get("type") == "WithElement"}
        sources = {id(node["table_function"]) for node in nodes if isinstance(node.get("table_function"), dict)}
        for node in nodes:
            if id(node) in sources:
                _table_function(node)
            else:
                self._node(node, ctes)

    def _node(self, node: dict[str, Any], ctes: set[str]) -> None:
        if "out_file" in node:
            raise QueryRefused("INTO OUTFILE is refused: a read writes no file")
        if "format_ast" in node:
            raise QueryRefused("a FORMAT clause is refused: the answer's format is the page's")
        kind = node.get("type")
        if kind == "TableIdentifier":
            self._table(node, ctes)
        elif kind == "Function":
            self._function(node)
        elif kind == "QueryParameter" and node.get("param_type") == "Identifier":
            raise QueryRefused(IDENTIFIER_PARAMETER)

    def _table(self, node: dict[str, Any], ctes: set[str]) -> None:
        parts = node.get("name_parts") or [node.get("name", "")]
        if not parts[0]:
            raise QueryRefused(IDENTIFIER_PARAMETER)
        if len(parts) == 1 and parts[0] in ctes | self.catalogue.tables:
            return
        if len(parts) == 2 and parts[0] == self.catalogue.database and parts[1] in self.catalogue.tables:
            return
        raise QueryRefused(f"table {'.'.join(parts)} is refused: reads come from leadflow's tables")

    def _function(self, node: dict[str, Any]) -> None:
        name = str(node.get("name", ""))
        if name in IN_FAMILY:
            _set_operand(node)
        if name == LAMBDA or name in PURE_OTHERS:
            return
        category = self.catalogue.category(name)
        if category not in PURE_CATEGORIES:
            raise QueryRefused(f"function {name}() is refused: only functions that compute on values are answered")


def _table_function(function: dict[str, Any]) -> None:
    """Refuse a table function other than the generators: the others read files, URLs, servers or programs."""
    if function.get("name") not in GENERATORS:
        raise QueryRefused(f"table function {function.get('name')}() is refused: reads come from leadflow's tables")


def _set_operand(node: dict[str, Any]) -> None:
    """Refuse `x IN some_table`: a bare name on the right of IN reads that table, whichever database it is in."""
    arguments = node.get("arguments", {}).get("children", [])
    if len(arguments) == 2 and arguments[1].get("type") in ("Identifier", "TableIdentifier"):
        raise QueryRefused(f"IN {arguments[1].get('name')} is refused: give IN a subquery or a list of values")


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Yield every object of the tree (without recursion: ClickHouse allows deeper trees than Python's stack)."""
    pending = [tree]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            yield value
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
