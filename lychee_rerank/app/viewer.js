// The full-size view of lychee-rerank's results: a lightbox drawn and driven in the browser.
//
// Arrow keys step and P / X mark the image on screen at once, without waiting for the server,
// so fast culling never lands a mark on the wrong image. Each mark is an event numbered in
// key-press order, [seq, index, mark], sent to Python with every report until the server
// acknowledges it (data.acked): see lychee_rerank/app/culling.py.
//
// The view's state lives in this module, not in the element Streamlit mounts: under load
// Streamlit may unmount and mount the element again in the middle of a culling run, and a key
// pressed in between must still count, in order. Every text from the user (names, warnings,
// model output) is set as textContent, never parsed as HTML.

const REMOUNT_GRACE_MS = 3000;  // keys still count this long after the element left the page

const view = {
  viewId: null, items: [], details: {}, labels: {}, current: null, marks: new Map(), pending: [], seq: 0,
  closed: true, send: () => {},
};
const parts = new WeakMap();  // parentElement -> the DOM drawn into it
let shown = null;  // the DOM on the page now, if any
let leftAt = 0;

document.addEventListener("keydown", onKey, true);

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  view.send = (report) => setStateValue("report", report);
  let dom = parts.get(parentElement);
  if (!dom) {
    dom = createDom(parentElement);
    parts.set(parentElement, dom);
  }
  shown = dom;
  update(data);
  return () => {
    dom.overlay.remove();
    parts.delete(parentElement);
    if (shown === dom) {
      shown = null;
      leftAt = Date.now();
    }
  };
}

function listening() {
  return view.viewId !== null && !view.closed && (shown !== null || Date.now() - leftAt < REMOUNT_GRACE_MS);
}

function onKey(event) {
  if (!listening() || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.composedPath()[0];
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
  const actions = { ArrowRight: () => step(1), ArrowLeft: () => step(-1), p: () => mark("pick"),
                    P: () => mark("pick"), x: () => mark("reject"), X: () => mark("reject"), Escape: shut };
  const action = actions[event.key];
  if (!action) return;
  event.preventDefault();
  event.stopPropagation();
  action();
}

const position = () => Math.max(0, view.items.findIndex((item) => item.i === view.current));

function report() {
  view.send({ view: view.viewId, index: view.current, events: view.pending.slice(), closed: view.closed });
}

function step(by) {
  const to = Math.min(Math.max(position() + by, 0), view.items.length - 1);
  if (!view.items[to] || view.items[to].i === view.current) return;
  view.current = view.items[to].i;
  render();
  report();
}

function mark(kind) {
  const index = view.current;
  if (index === null) return;
  const now = view.marks.get(index) === kind ? null : kind;
  view.marks.set(index, now);
  view.pending.push([++view.seq, index, now]);
  render();
  report();
}

function shut() {
  view.closed = true;
  render();
  report();
}

function update(data) {
  if (data.view !== view.viewId) {  // a new opening: start where the user clicked
    Object.assign(view, { viewId: data.view, current: data.start, pending: [], seq: 0, closed: false });
    if (shown) setTimeout(() => shown && shown.overlay.focus(), 0);
  }
  Object.assign(view, { items: data.items || [], details: data.details || {}, labels: data.labels || {} });
  view.pending = view.pending.filter((event) => event[0] > (data.acked || 0));
  view.marks = new Map(view.items.map((item) => [item.i, item.mark || null]));
  for (const [, index, kind] of view.pending) view.marks.set(index, kind);
  if (!view.items.some((item) => item.i === view.current) && view.items.length) view.current = view.items[0].i;
  render();
}

function add(parent, tag, className) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  parent.appendChild(element);
  return element;
}

function createDom(root) {
  const dom = {};
  dom.overlay = add(root, "div", "lr-view");
  dom.overlay.setAttribute("role", "dialog");
  dom.overlay.setAttribute("aria-modal", "true");
  dom.overlay.tabIndex = -1;
  const top = add(dom.overlay, "div", "top");
  for (const name of ["rank", "name", "badge", "counter"]) dom[name] = add(top, "span", name);
  dom.close = add(top, "button", "close");
  const main = add(dom.overlay, "div", "main");
  const stage = add(main, "div", "stage");
  dom.image = add(stage, "img", "image");
  dom.text = add(stage, "div", "text");
  const side = add(main, "div", "side");
  dom.warning = add(side, "div", "warning");
  dom.notes = add(side, "ul", "notes");
  dom.generationTitle = add(side, "div", "output-title generation-title");
  dom.generation = add(side, "dl", "generation");
  dom.outputTitle = add(side, "div", "output-title");
  dom.method = add(side, "div", "method");
  dom.probabilities = add(side, "div", "probabilities");
  dom.output = add(side, "pre", "output");
  const bar = add(dom.overlay, "div", "bar");
  for (const name of ["previous", "pick", "reject", "next"]) dom[name] = add(bar, "button", name);
  dom.hint = add(dom.overlay, "div", "hint");
  dom.previous.addEventListener("click", () => step(-1));
  dom.next.addEventListener("click", () => step(1));
  dom.pick.addEventListener("click", () => mark("pick"));
  dom.reject.addEventListener("click", () => mark("reject"));
  dom.close.addEventListener("click", shut);
  return dom;
}

function render() {
  const dom = shown;
  if (!dom) return;
  dom.overlay.hidden = view.closed;
  const at = position();
  const item = view.items[at];
  if (!item) return;
  const detail = view.details[String(item.i)] || {};
  const labels = view.labels;
  const chosen = view.marks.get(item.i) || null;
  dom.overlay.dataset.index = String(item.i);
  dom.overlay.dataset.mark = chosen || "";
  dom.rank.textContent = item.rank;
  dom.rank.style.color = item.colour;
  dom.name.textContent = item.name;
  dom.name.title = item.name;
  dom.badge.textContent = chosen === "pick" ? labels.picked : chosen === "reject" ? labels.rejected : "";
  dom.badge.className = "badge " + (chosen || "");
  dom.counter.textContent = `${at + 1} / ${view.items.length}`;
  dom.previous.textContent = labels.previous;
  dom.next.textContent = labels.next;
  dom.pick.textContent = labels.pick;
  dom.reject.textContent = labels.reject;
  dom.close.textContent = "×";
  dom.close.title = labels.close;
  dom.close.setAttribute("aria-label", labels.close);
  dom.hint.textContent = labels.keys;
  dom.pick.classList.toggle("on", chosen === "pick");
  dom.reject.classList.toggle("on", chosen === "reject");
  dom.pick.setAttribute("aria-pressed", String(chosen === "pick"));
  dom.reject.setAttribute("aria-pressed", String(chosen === "reject"));
  dom.previous.disabled = at === 0;
  dom.next.disabled = at === view.items.length - 1;
  const isText = typeof item.text === "string";
  dom.text.hidden = !isText;
  dom.image.hidden = isText;
  if (isText) {
    dom.text.textContent = item.text;
  } else {
    const source = detail.src || item.thumb;
    if (dom.image.getAttribute("src") !== source) dom.image.setAttribute("src", source);
    dom.image.alt = item.name;
  }
  dom.warning.textContent = detail.warning || "";
  dom.warning.hidden = !detail.warning;
  dom.notes.replaceChildren(...(detail.notes || []).map((note) => {
    const line = document.createElement("li");
    line.textContent = note;
    return line;
  }));
  const generation = detail.generation || [];
  dom.generationTitle.hidden = generation.length === 0;
  dom.generationTitle.textContent = labels.generation || "";
  dom.generation.replaceChildren(...generation.flatMap(([label, value]) => {
    const term = document.createElement("dt");
    term.textContent = label;
    const text = document.createElement("dd");
    text.textContent = value;
    return [term, text];
  }));
  dom.outputTitle.textContent = labels.output;
  dom.method.textContent = detail.method || "";
  dom.probabilities.textContent = detail.probabilities || "";
  dom.output.textContent = detail.output || "";
  for (const ahead of view.items.slice(at + 1, at + 3)) {  // the next images arrive before the key does
    const source = (view.details[String(ahead.i)] || {}).src || ahead.thumb;
    if (source) new Image().src = source;
  }
}
