// The console works without this script; it adds confirmations, the "/" shortcut and the upload progress.
"use strict";

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

document.addEventListener("keydown", (event) => {
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement || target.isContentEditable;
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const field = document.querySelector(`[data-hotkey="${CSS.escape(event.key)}"]`);
  if (field) { event.preventDefault(); field.focus(); field.select(); }
});

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

// Upload: the bytes go up with XMLHttpRequest (upload progress), then the server streams one JSON line per
// embedded batch: {"embedded": n, "total": N}, and at the end {"loaded": N} or {"error": "..."}.
function startUpload(form) {
  const file = form.querySelector('input[type="file"]').files[0];
  const replace = form.querySelector('input[name="replace"]:checked').value;
  const bar = form.querySelector("progress");
  const status = form.querySelector('[role="status"]');
  const button = form.querySelector('button[type="submit"]');
  if (!file) return;
  if (replace === "true" && !window.confirm("Replace every memory of this workspace with the file?")) return;
  bar.hidden = false; bar.removeAttribute("value"); button.disabled = true;
  status.textContent = `Sending ${file.name}…`;
  const xhr = new XMLHttpRequest();
  let seen = 0;
  xhr.open("POST", `${form.dataset.action}?replace=${replace}`);
  xhr.setRequestHeader("Content-Type", "application/x-ndjson");
  xhr.setRequestHeader("X-CSRF-Token", csrfToken());
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
    status.textContent = `Sending ${file.name}: ${Math.round((100 * e.loaded) / (e.total || 1))}%`;
  };
  const readLines = () => {
    const text = xhr.responseText;
    const end = text.lastIndexOf("\n");
    if (end < seen) return;
    for (const line of text.slice(seen, end).split("\n")) {
      if (!line.trim()) continue;
      let event;
      try { event = JSON.parse(line); } catch { continue; }
      if (event.error) {
        status.textContent = `Failed: ${event.error}. Nothing was written.`;
        status.className = "error";
      } else if (event.loaded !== undefined) {
        bar.max = 1; bar.value = 1;
        status.textContent = `Loaded ${event.loaded} memories. `;
        status.className = "notice";
        const link = document.createElement("a");
        link.href = form.dataset.workspace;
        link.textContent = "Show the workspace";
        status.append(link);
      } else if (event.total !== undefined) {
        bar.max = event.total || 1; bar.value = event.embedded;
        status.textContent = `Embedding: ${event.embedded} of ${event.total} memories`;
      }
    }
    seen = end + 1;
  };
  xhr.onprogress = () => { if (xhr.status === 200) readLines(); };
  xhr.onload = () => {
    button.disabled = false;
    if (xhr.status === 200) { readLines(); return; }
    let message = xhr.statusText;
    try { message = JSON.parse(xhr.responseText).answer || message; } catch {
      const doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      message = doc.querySelector('[role="alert"]')?.textContent || message;
    }
    status.textContent = `Failed (${xhr.status}): ${message}`;
    status.className = "error";
    bar.hidden = true;
  };
  xhr.onerror = () => { button.disabled = false; status.textContent = "The connection failed."; status.className = "error"; };
  xhr.send(file);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (form) form.addEventListener("submit", (event) => { event.preventDefault(); startUpload(form); });
});
