// The results grid of lychee-rerank: the cards' HTML, made and escaped in Python (cards.py: every
// user text goes through esc()), laid out in a CSS grid as one element. Only the cards whose HTML
// changed are replaced, so an opened "model output" stays open when another card is picked.

const grids = new WeakMap();  // parentElement -> { root, cells: Map(key -> { html, el }) }

export default function (component) {
  const { data, parentElement } = component;
  let grid = grids.get(parentElement);
  if (!grid) {
    const root = document.createElement("div");
    root.className = "lr-grid";
    parentElement.append(root);
    grid = { root, cells: new Map() };
    grids.set(parentElement, grid);
  }
  grid.root.style.gridTemplateColumns = `repeat(${data.columns}, minmax(0, 1fr))`;
  const cells = new Map();
  const order = data.cards.map(({ key, html }) => {
    let cell = grid.cells.get(key);
    if (!cell || cell.html !== html) {
      const el = document.createElement("div");
      el.className = "lr-cell";
      el.innerHTML = html;
      cell = { html, el };
    }
    cells.set(key, cell);
    return cell.el;
  });
  const children = grid.root.children;
  if (order.length !== children.length || order.some((el, n) => children[n] !== el)) {
    grid.root.replaceChildren(...order);
  }
  grid.cells = cells;
  return () => {
    grids.delete(parentElement);
    grid.root.remove();
  };
}
