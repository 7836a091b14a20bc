"""The fixture targets (tests/fixtures/drift/): each drifted target reports exactly its known drift,
each clean twin reports none; the CLI's exit codes and formats."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudmake_pipelines.drift import run_check
from cloudmake_pipelines.drift.report import as_markdown, as_text

FIXTURES = Path(__file__).parent / "fixtures" / "drift"
CLOUDMAKE = str(Path(sys.executable).with_name("cloudmake"))

FASTAPI_DRIFT = {
    "entities:extra:audit_events", "entities:missing:orders", "entities:missing:products.description",
    "entities:extra:products.legacy_code", "entities:changed:products.price_cents", "entities:changed:products.sku",
    "routes:missing:DELETE /api/products/{product_id}", "routes:extra:GET /api/products/{id}/reviews",
    "routes:renamed:GET /api/products/{product_id}",
    "schemas:changed:Order.quantity", "schemas:changed:Order.status", "schemas:changed:OrderStatus",
    "schemas:missing:Product.description", "schemas:extra:Product.discount", "schemas:changed:Product.price_cents",
    "tokens:extra:--color-brand-accent", "tokens:changed:color.brand.link", "tokens:changed:color.brand.primary",
    "tokens:missing:spacing.md",
}
EXPRESS_DRIFT = {
    "entities:extra:orders.coupon", "entities:missing:orders.placed_at", "entities:changed:orders.quantity",
    "entities:changed:products.created_at", "entities:extra:refunds",
    "routes:missing:DELETE /api/products/{product_id}", "routes:extra:GET /api/orders/stats",
    "routes:missing:GET /api/orders/{order_id}", "routes:renamed:GET /api/products/{product_id}",
    "schemas:changed:Order.id", "schemas:extra:Order.note", "schemas:changed:Order.quantity",
    "schemas:missing:Product", "schemas:extra:Coupon",
    "tokens:extra:--spacing-lg", "tokens:missing:font.body", "tokens:changed:spacing.sm",
}


@pytest.mark.parametrize("name", ["fastapi-clean", "express-clean"])
def test_clean_twins_report_no_drift_in_any_dimension(name):
    report = run_check(FIXTURES / name)
    assert report.items == [], as_text(report)
    assert set(report.checked) == {"entities", "routes", "schemas", "tokens"}
    assert not any(source.startswith("skipped") for source in report.checked.values()), report.checked
    assert len(report.spec_digest) == 64 and report.duration_ms > 0


@pytest.mark.parametrize(("name", "expected"), [("fastapi-drift", FASTAPI_DRIFT), ("express-drift", EXPRESS_DRIFT)])
def test_drifted_targets_report_exactly_their_known_drift(name, expected):
    report = run_check(FIXTURES / name)
    assert {item.key for item in report.items} == expected, as_text(report)
    assert {item.kind for item in report.items} == {"missing", "extra", "changed", "renamed"}
    assert report.has_drift and report.counts["total"] == len(expected)


def test_items_say_what_was_expected_what_is_there_and_where():
    items = {item.key: item for item in run_check(FIXTURES / "fastapi-drift").items}
    renamed = items["routes:renamed:GET /api/products/{product_id}"]
    assert (renamed.expected, renamed.actual) == ("/api/products/{product_id}", "/api/products/{id}")
    assert "shop.openapi.yaml:11" in renamed.location and "shopapi/routers/products.py:19" in renamed.location
    price = items["entities:changed:products.price_cents"]
    assert (price.expected, price.actual) == ("integer not null", "text not null")
    assert price.location.endswith("data-model.md:13")
    token = items["tokens:changed:color.brand.primary"]
    assert (token.expected, token.actual) == ("#0055ff", "#0044cc")
    assert token.location.endswith("design.tokens.json:5 / web/tokens.css:3")
    schema = items["schemas:changed:Product.price_cents"]
    assert (schema.expected, schema.actual) == ("integer, required", "string, required")


def test_static_scan_alone_finds_the_fastapi_routes(tmp_path):
    """The clean FastAPI twin again, but without the in-process OpenAPI: the scan must stand alone."""
    config = tmp_path / "drift.yaml"
    config.write_text(f"specs: {FIXTURES / 'shop-spec' / 'specs'}\ndatabase: {{sql: [schema.sql]}}\n"
                      "routes: {scan: ['shopapi/**/*.py']}\nschemas: {pydantic: [shopapi.models]}\n"
                      "tokens: {css: ['web/*.css']}\n")
    report = run_check(FIXTURES / "fastapi-clean", config_path=config)
    assert report.items == [], as_text(report)
    assert report.checked["routes"] == "static scan of 6 files"
    assert report.checked["schemas"] == "pydantic models of shopapi.models"
    drifted = run_check(FIXTURES / "fastapi-drift", config_path=config)
    assert {i.key for i in drifted.items if i.dimension in ("routes", "schemas")} == {
        k for k in FASTAPI_DRIFT if k.split(":")[0] in ("routes", "schemas")}


def test_markdown_table_has_one_row_per_item_and_escapes_pipes():
    report = run_check(FIXTURES / "express-drift")
    table = as_markdown(report)
    assert table.startswith("### Spec drift (SC-008): spec drift: 17 items")
    assert sum(1 for line in table.splitlines() if line.startswith("| ") and "`" in line) == 17
    assert "| dimension | kind | name | expected | actual | location |" in table


def _cli(*args, env=None):
    return subprocess.run([CLOUDMAKE, "drift", "check", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_cli_exit_codes_and_formats(tmp_path):
    drifted = _cli("--target", str(FIXTURES / "express-drift"), "--format", "json")
    assert drifted.returncode == 1, drifted.stderr
    body = json.loads(drifted.stdout)  # stdout is only the JSON (logs went to stderr)
    assert body["has_drift"] is True and {i["key"] for i in body["items"]} == EXPRESS_DRIFT
    clean = _cli("--target", str(FIXTURES / "express-clean"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no spec drift" in clean.stdout
    broken = tmp_path / "specs" / "001-x"
    broken.mkdir(parents=True)
    (broken / "data-model.md").write_text("# x\n\n```yaml\nentity: t\nfields:\n  id: bigint pk\n  a: strng\n```\n")
    spec_error = _cli("--target", str(tmp_path))
    assert spec_error.returncode == 2
    assert "specs/001-x/data-model.md:7: unknown type 'strng'" in spec_error.stderr
    usage = _cli("--format", "yaml")
    assert usage.returncode == 2 and "Invalid value for '--format'" in usage.stderr
