// A tiny DOM builder: text always goes in as text (never parsed as HTML), so no message,
// title or reason from the API can inject markup.
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function replace(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// `datetime-local` input value (local time) → ISO with offset, as the APIs want aware times.
export function isoFromLocal(value) {
  return new Date(value).toISOString();
}

export function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function field(label, input) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h("div", { className: "field" }, h("label", { for: id }, label), input);
}

// A modal question (reason, edit, merge target): resolves to the fields' values, or null.
export function ask(title, fields, okLabel = "OK") {
  const dialog = document.getElementById("ask");
  document.getElementById("ask-title").textContent = title;
  document.getElementById("ask-ok").textContent = okLabel;
  const inputs = {};
  replace(
    document.getElementById("ask-fields"),
    fields.map((f) => {
      const input = f.multiline
        ? h("textarea", { rows: 4, name: f.name, required: f.required })
        : h("input", { type: f.type || "text", name: f.name, required: f.required });
      input.value = f.value ?? "";
      inputs[f.name] = input;
      return field(f.label, input);
    }),
  );
  const previous = document.activeElement;
  return new Promise((resolve) => {
    const form = document.getElementById("ask-form");
    const cancel = document.getElementById("ask-cancel");
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      if (previous instanceof HTMLElement) previous.focus();
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      done(Object.fromEntries(Object.entries(inputs).map(([k, i]) => [k, i.value.trim()])));
    };
    const onCancel = (event) => {
      event.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    Object.values(inputs)[0]?.focus();
  });
}
