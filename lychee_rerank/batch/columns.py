"""The column names of the job contract (README "Batch jobs"), defined once."""

from __future__ import annotations

# The manifest's: query and image are required, id and group optional.
QUERY, IMAGE, ID, GROUP = "query", "image", "id", "group"
REQUIRED = (QUERY, IMAGE)
# What the job adds to every row.
SCORE, RANK, PARSE_METHOD, WARNING, SCORED_SIZE = "score", "rank", "parse_method", "warning", "scored_size"
RESULT_COLUMNS = (SCORE, PARSE_METHOD, WARNING, SCORED_SIZE)  # as scoring writes them; merge inserts rank
# Hidden columns the job uses and drops from the output: the 0-based manifest row, the image path
# resolved against the manifest's folder, and the ranking key (the group, or the query without one).
ROW, PATH, KEY = "_lychee_row", "_lychee_path", "_lychee_group"
HIDDEN = (ROW, PATH, KEY)
# Columns that look like a product id (compared lower-case, without spaces, "_" or "-"): a manifest with one of
# these and no group column most likely wants one ranking per product, not one per query across products.
PRODUCT_ID_COLUMNS = frozenset({
    "sku", "skuid", "skucode", "spu", "spuid", "product", "productid", "productcode", "productno",
    "item", "itemid", "itemcode", "itemno", "asin", "parentasin", "style", "styleid", "stylecode", "styleno",
    "article", "articleid", "articleno", "articlenumber", "goodsid", "ean", "upc", "gtin", "mpn",
    "商品id", "商品编号", "货号", "款号",
})
