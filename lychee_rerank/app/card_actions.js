// The result cards' buttons in lychee-rerank (view, pick, reject, compare): plain HTML buttons in
// each card (lychee_rerank/app/card_actions.py draws them). One click listener on the document
// reports the pressed one as the "action" trigger, {act, i}; Python does the rest and redraws.
// A card's "copy" button (generation info) is done here: the text goes to the clipboard.

let report = null;  // the latest mount's setTriggerValue: reports go to the page as it is now
const mounts = new Set();  // the parent elements this component is drawn in now

function onClick(event) {
  if (!event.target.closest) return;
  const copy = event.target.closest("button.lr-copy");
  if (copy) {
    const text = copy.parentElement.querySelector(".lr-gen-text");
    if (text && navigator.clipboard) navigator.clipboard.writeText(text.textContent).then(() => {
      copy.dataset.copied = "1";
    });
    return;
  }
  const button = event.target.closest("button.lr-act");
  if (!button || !report) return;
  const index = Number(button.dataset.i);
  if (!Number.isInteger(index)) return;
  report("action", { act: button.dataset.act, i: index });
}

export default function (component) {
  const { parentElement, setTriggerValue } = component;
  report = setTriggerValue;
  if (mounts.size === 0) document.addEventListener("click", onClick);
  mounts.add(parentElement);
  return () => {
    mounts.delete(parentElement);
    if (mounts.size === 0) {
      document.removeEventListener("click", onClick);
      report = null;
    }
  };
}
