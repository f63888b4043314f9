// The live view of a run in lychee-rerank: progress, status lines, Stop and the best-so-far grid.
//
// It fetches the run's JSON feed (lychee_rerank/app/live_feed.py) again as soon as each answer
// comes (the server holds each for up to poll_ms, less when the run ends) and redraws only the
// parts that changed (the best-so-far cards at most every grid_ms), so the page needs no
// Streamlit rerun while the model works. When the feed says the run ended it fires the
// "finished" trigger once: that rerun draws the results.
// Every text is set as textContent, never parsed as HTML.

const views = new WeakMap();  // parentElement -> its view

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let view = views.get(parentElement);
  if (!data.token) {  // mounted before any run (live_feed.mount_idle): this script loads, nothing is drawn
    if (view) remove(view, parentElement);
    preload(data.preload || []);
    return undefined;
  }
  if (!view) {
    view = createView(parentElement);
    views.set(parentElement, view);
  }
  view.trigger = setTriggerValue;
  view.pollMs = data.poll_ms;
  view.gridMs = data.grid_ms;
  if (view.token !== data.token) {
    view.token = data.token;
    view.base = window.location.origin + window.location.pathname.replace(/[^/]*$/, "");
    view.url = new URL(data.url, view.base);
    view.stopUrl = new URL(data.stop_url, view.base);
    view.ended = false;
    view.drawn = {};
    draw(view, data.snapshot);
    schedule(view, 0);
  }
  return () => remove(view, parentElement);
}

// The results page's widget scripts, imported while the user fills the form: Streamlit's own import of the same
// address at the run's end then finds them loaded (live_feed.results_scripts).
function preload(paths) {
  const base = window.location.origin + window.location.pathname.replace(/[^/]*$/, "");
  paths.forEach((path) => import(new URL(path, base).href).catch(() => {}));
}

function remove(view, parent) {
  clearTimeout(view.timer);
  view.token = null;
  views.delete(parent);
  view.root.remove();
}

function createView(parent) {
  const root = element("div", "lr-livebox");
  const progress = element("div", "lr-progress");
  const text = element("div", "lr-progress-text");
  const bar = element("div", "lr-bar");
  const fill = element("div", "lr-bar-fill");
  bar.append(fill);
  progress.append(text, bar);
  const queued = element("div", "lr-queued");
  const lines = element("div", "lr-lines");
  // The parts redrawn four times a second sit in a box of fixed size (lr-status in cards.py): Chromium then lays out
  // and paints only that box, not the whole page, while the model shares the CPU with it.
  const status = element("div", "lr-status");
  status.append(progress, lines);
  const stop = element("button", "lr-stop");
  stop.type = "button";
  const header = element("div", "lr-live-header");
  const grid = element("div", "lr-live-grid");
  root.append(queued, status, stop, header, grid);
  parent.append(root);
  const view = { root, text, fill, queued, lines, stop, header, grid, token: null, timer: null, drawn: {} };
  stop.addEventListener("click", async () => {
    stop.disabled = true;
    try {  // straight to the server: the model stops after its current image, no page rerun first
      const response = await fetch(view.stopUrl, { method: "POST", cache: "no-store" });
      if (response.ok) return;
    } catch (error) {
      // fall back to the page's own callback below
    }
    view.trigger("stop", view.token);
  });
  return view;
}

function element(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

function schedule(view, delay) {
  const token = view.token;
  view.timer = setTimeout(() => poll(view, token), delay);
}

async function poll(view, token) {
  let delay = view.pollMs;  // after a failure: the server is busy or restarting
  try {
    const response = await fetch(view.url, { cache: "no-store" });
    if (view.token !== token) return;
    if (response.status === 404) return finish(view);  // the server no longer knows the run: let the page resync
    if (response.ok) {
      draw(view, await response.json());
      delay = 0;  // the server already waited
    }
  } catch (error) {
    // try again after a pause
  }
  if (view.token === token && !view.ended) schedule(view, delay);
}

function finish(view) {
  if (view.ended) return;
  view.ended = true;
  view.trigger("finished", view.token);
}

function changed(view, part, value) {
  const key = JSON.stringify(value);
  if (view.drawn[part] === key) return false;
  view.drawn[part] = key;
  return true;
}

function draw(view, snap) {
  if (!snap) return;
  if (snap.finished) finish(view);  // first: the server starts drawing the results while this last picture is drawn
  if (changed(view, "progress", [snap.progress, snap.fraction])) {
    view.text.textContent = snap.progress;
    view.fill.style.width = `${(snap.fraction * 100).toFixed(2)}%`;
  }
  if (changed(view, "queued", snap.queued)) {
    view.queued.textContent = snap.queued || "";
    view.queued.hidden = !snap.queued;
  }
  if (changed(view, "lines", snap.lines)) drawLines(view.lines, snap.lines);
  if (changed(view, "stop", [snap.stop, snap.stopping])) {
    view.stop.textContent = snap.stop;
    view.stop.disabled = snap.stopping;
  }
  // Each move of the grid is layout, paint and new thumbnails to fetch and decode, on the CPU the model needs. The
  // finished snapshot does not move it: the results replace it next, and would wait behind that work.
  const gridDue = !snap.finished && !(performance.now() - view.gridAt < view.gridMs);
  if (gridDue && changed(view, "grid", [snap.header, snap.cards, snap.columns])) {
    drawGrid(view, snap);
    view.gridAt = performance.now();
  }
}

function drawLines(box, lines) {
  // The line elements are kept and their texts set: no nodes made and styled again on every answer.
  while (box.children.length < lines.length) box.append(element("div", "lr-line"));
  [...box.children].forEach((node, n) => {
    node.textContent = lines[n] || "";
    node.hidden = n >= lines.length;
  });
}

function drawGrid(view, snap) {
  if (view.header.textContent !== (snap.header || "")) view.header.textContent = snap.header || "";
  const columns = `repeat(${snap.columns}, minmax(0, 1fr))`;
  if (view.grid.style.gridTemplateColumns !== columns) view.grid.style.gridTemplateColumns = columns;
  // Cards still in the grid are kept and only moved where their place changed: their images are not fetched or
  // decoded again, and a new best image costs a few nodes, not the whole grid laid out again.
  const kept = new Map([...view.grid.children].map((box) => [box.dataset.src, box]));
  const wanted = snap.cards.map((card) => {
    const box = kept.get(card.src) || makeCard(view, card);
    const rank = box.querySelector(".lr-rank");
    if (rank.textContent !== card.rank) rank.textContent = card.rank;
    if (rank.dataset.colour !== card.colour) rank.style.color = rank.dataset.colour = card.colour;
    return box;
  });
  const keep = new Set(wanted);
  [...view.grid.children].forEach((box) => keep.has(box) || box.remove());
  wanted.forEach((box, n) => {
    if (view.grid.children[n] !== box) view.grid.insertBefore(box, view.grid.children[n] || null);
  });
}

function makeCard(view, card) {
  const box = element("div", "lr-live");
  box.dataset.src = card.src;
  const thumb = element("div", "lr-thumb");
  thumb.append(Object.assign(document.createElement("img"), { src: new URL(card.src, view.base).href, alt: card.name }));
  const name = Object.assign(element("div", "lr-name"), { textContent: card.name, title: card.name });
  box.append(thumb, element("div", "lr-rank"), name);
  return box;
}
