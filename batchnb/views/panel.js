// batchnb's live panel (an anywidget front-end module). The kernel renders every picture as HTML
// (batchnb/views/_panel_html.py) and syncs it through the widget's traits; this module only puts it in
// place, draws the buttons and sends their clicks. One code path for every front end anywidget runs in.
//
// A click is sent as {click: action, seq: n}; the kernel sets `handled` to n as soon as it takes it. Until
// then the button carries .batchnb-queued ("queued: the kernel is busy", from panel.css) and ignores more
// clicks. While its handler acts the kernel leaves it out of `enabled`: a second click does nothing.

const LINES = ["items", "jobs", "cost", "timing", "status"];

function part(parent, tag, name) {
  const el = document.createElement(tag);
  el.className = `batchnb-part batchnb-${name}`;
  el.dataset.part = name;
  parent.appendChild(el);
  return el;
}

function render({ model, el }) {
  const root = document.createElement("div");
  // MathJax must not read two "$" amounts as a formula
  root.className = "batchnb-live mathjax_ignore tex2jax_ignore";
  const title = part(root, "div", "title");
  const lines = Object.fromEntries(LINES.map((name) => [name, part(root, "div", name)]));
  const bar = part(root, "div", "buttons");
  const failed = part(root, "div", "failed-items");
  const frame = part(root, "div", "frame");
  frame.classList.add("jp-RenderedHTMLCommon"); // JupyterLab's table style for the DataFrame, where it exists
  const printed = part(root, "pre", "printed");
  el.appendChild(root);

  const pending = new Map(); // action -> number of a click the kernel has not taken yet
  let last = 0;
  const buttons = new Map();
  for (const spec of model.get("buttons")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "batchnb-btn" + (spec.style ? ` batchnb-btn-${spec.style}` : "");
    button.dataset.action = spec.action;
    button.textContent = spec.label;
    button.title = spec.tip;
    button.addEventListener("click", () => {
      if (button.disabled || pending.has(spec.action)) return;
      const seq = Math.max(Date.now(), model.get("handled") + 1, last + 1);
      last = seq;
      pending.set(spec.action, seq);
      buttonsChanged();
      model.send({ click: spec.action, seq });
    });
    bar.appendChild(button);
    buttons.set(spec.action, button);
  }

  function buttonsChanged() {
    const handled = model.get("handled");
    for (const [action, seq] of pending) if (seq <= handled) pending.delete(action);
    const enabled = new Set(model.get("enabled"));
    for (const [action, button] of buttons) {
      const queued = pending.has(action);
      button.classList.toggle("batchnb-queued", queued);
      button.setAttribute("aria-pressed", queued ? "true" : "false");
      button.disabled = !queued && !enabled.has(action);
    }
  }

  const fill = (target, key) => () => {
    target.innerHTML = model.get(key);
    target.hidden = !model.get(key);
  };
  const watched = [
    ["title", () => { title.textContent = model.get("title"); }],
    ...LINES.map((name) => [`${name}_html`, fill(lines[name], `${name}_html`)]),
    ["failed_html", fill(failed, "failed_html")],
    ["frame_html", fill(frame, "frame_html")],
    ["printed", () => { printed.textContent = model.get("printed"); printed.hidden = !model.get("printed"); }],
    ["enabled", buttonsChanged],
    ["handled", buttonsChanged],
  ];
  for (const [key, update] of watched) {
    update();
    model.on(`change:${key}`, update);
  }
  return () => {
    for (const [key, update] of watched) model.off(`change:${key}`, update);
  };
}

export default { render };
