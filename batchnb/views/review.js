// batchnb's hand review (views/_review_widget.py): one sampled item at a time, its source beside its answer,
// per field "right" / "wrong" and a box for the right value. A click sends one message to the kernel, which
// records a label (an event in the state) and sends the items back with it: what is drawn is what the state holds.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function verdict(label) {
  if (!label) return "";
  if (label.correct) return "right";
  return label.value === null || label.value === undefined
    ? "wrong"
    : "wrong, right value: " + (typeof label.value === "string" ? label.value : JSON.stringify(label.value));
}

function render({ model, el: host }) {
  const root = el("div", "batchnb-review");
  host.appendChild(root);

  function send(at, field, correct, value, button) {
    button.classList.add("bnr-sent"); // until the kernel answers with the items (or an error)
    model.send({ kind: "label", at, field, correct, value });
  }

  function draw() {
    const items = model.get("items") || [];
    const index = Math.min(Math.max(model.get("index") || 0, 0), Math.max(items.length - 1, 0));
    const reviewed = items.filter((item) => Object.keys(item.labels || {}).length > 0).length;
    root.replaceChildren();

    const head = el("div", "bnr-head");
    head.appendChild(el("b", "bnr-title", model.get("title")));
    const prev = el("button", "bnr-prev", "Prev");
    const next = el("button", "bnr-next", "Next");
    prev.disabled = index <= 0;
    next.disabled = index >= items.length - 1;
    const go = (to) => () => {
      model.set("index", to);
      model.save_changes();
    };
    prev.addEventListener("click", go(index - 1));
    next.addEventListener("click", go(index + 1));
    head.append(prev, el("span", "bnr-where", items.length ? `item ${index + 1} of ${items.length}` : "no item"), next);
    head.appendChild(el("span", "bnr-counter", `${reviewed} of ${items.length} reviewed`));
    root.appendChild(head);
    if (model.get("error")) root.appendChild(el("div", "bnr-error", model.get("error")));
    if (!items.length) {
      root.appendChild(el("div", "bnr-empty", "No succeeded answer to review yet."));
      return;
    }

    const item = items[index];
    const labels = item.labels || {};
    root.appendChild(el("div", "bnr-row", `row ${item.row}`));
    const body = el("div", "bnr-body");
    const source = el("div", "bnr-source");
    source.appendChild(el("div", "bnr-heading", "Source"));
    const sourceBody = el("div", "bnr-source-body");
    sourceBody.innerHTML = item.source; // built and escaped by the kernel (views/_review_source.py)
    source.appendChild(sourceBody);
    const answer = el("div", "bnr-answer");
    answer.appendChild(el("div", "bnr-heading", "Answer"));

    for (const row of item.answers) {
      const key = row.field === null ? "" : row.field;
      const label = labels[key] || (row.field !== null && labels[""] && labels[""].correct ? labels[""] : null);
      const box = el("div", "bnr-field" + (label ? (label.correct ? " bnr-right" : " bnr-wrong") : ""));
      box.dataset.field = row.name;
      box.appendChild(el("div", "bnr-name", row.name));
      box.appendChild(el("div", "bnr-value", row.answer));
      for (const passage of row.cited || []) {
        const cited = el("div", "bnr-cited");
        cited.appendChild(el("span", "bnr-cited-where", passage.where));
        cited.appendChild(el("span", "bnr-cited-text", `“${passage.text}”`));
        box.appendChild(cited);
      }
      const actions = el("div", "bnr-actions");
      const right = el("button", "bnr-mark-right", "right");
      const wrong = el("button", "bnr-mark-wrong", "wrong");
      const typed = el("input", "bnr-typed");
      typed.placeholder = "the right value (then wrong, or Enter)";
      if (label && !label.correct && label.value !== null && label.value !== undefined) {
        typed.value = typeof label.value === "string" ? label.value : JSON.stringify(label.value);
      }
      if (label && labels[key]) (label.correct ? right : wrong).classList.add("bnr-chosen");
      right.addEventListener("click", () => send(index, row.field, true, null, right));
      wrong.addEventListener("click", () => send(index, row.field, false, typed.value || null, wrong));
      typed.addEventListener("keydown", (event) => {
        if (event.key === "Enter") send(index, row.field, false, typed.value || null, wrong);
      });
      actions.append(right, wrong, typed);
      box.appendChild(actions);
      if (label) box.appendChild(el("div", "bnr-verdict", labels[key] ? verdict(label) : "right (the whole answer)"));
      answer.appendChild(box);
    }
    if (item.answers.length > 1 || (item.answers.length && item.answers[0].field !== null)) {
      const all = el("button", "bnr-all-right", "whole answer right");
      if (labels[""] && labels[""].correct) all.classList.add("bnr-chosen");
      all.addEventListener("click", () => send(index, null, true, null, all));
      answer.appendChild(all);
    }
    body.append(source, answer);
    root.appendChild(body);
  }

  model.on("change:items", draw);
  model.on("change:index", draw);
  model.on("change:error", draw);
  draw();
  return () => root.remove();
}

export default { render };
