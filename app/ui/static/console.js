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

// A long write answers with one JSON line per embedded batch: {"embedded": n, "total": N}, and at the end
// {"loaded": N} or {"error": "..."}. followProgress draws those lines into the form's bar and status line.
function followProgress(xhr, form, workspaceUrl) {
  const bar = form.querySelector("progress");
  const status = form.querySelector('[role="status"]');
  const button = form.querySelector('button[type="submit"]');
  let seen = 0;
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
        link.href = workspaceUrl;
        link.textContent = "Show the workspace";
        status.append(link);
      } else if (event.total !== undefined) {
        bar.max = event.total || 1; bar.value = event.embedded;
        status.textContent = `Embedding: ${event.embedded} of ${event.total} memories`;
      }
    }
    seen = end + 1;
  };
  bar.hidden = false; bar.removeAttribute("value"); button.disabled = true; status.className = "";
  xhr.setRequestHeader("Accept", "application/x-ndjson");
  xhr.setRequestHeader("X-CSRF-Token", csrfToken());
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
}

// Upload: the bytes go up with XMLHttpRequest (upload progress), then the server streams its progress.
function startUpload(form) {
  const file = form.querySelector('input[type="file"]').files[0];
  const replace = form.querySelector('input[name="replace"]:checked').value;
  const bar = form.querySelector("progress");
  const status = form.querySelector('[role="status"]');
  if (!file) return;
  if (replace === "true" && !window.confirm("Replace every memory of this workspace with the file?")) return;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `${form.dataset.action}?replace=${replace}`);
  xhr.setRequestHeader("Content-Type", "application/x-ndjson");
  followProgress(xhr, form, form.dataset.workspace);
  status.textContent = `Sending ${file.name}…`;
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
    status.textContent = `Sending ${file.name}: ${Math.round((100 * e.loaded) / (e.total || 1))}%`;
  };
  xhr.send(file);
}

// Library load: the same form the browser would post, sent by script so that the progress shows.
function startLibraryLoad(form) {
  const fields = new URLSearchParams(new FormData(form));
  const library = fields.get("library");
  const workspace = fields.get("workspace").trim() || library;
  if (fields.get("replace") && !window.confirm(`Replace every memory of workspace ${workspace} with ${library}?`)) return;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
  followProgress(xhr, form, `/ui/w/${encodeURIComponent(workspace)}`);
  form.querySelector('[role="status"]').textContent = `Loading ${library} into ${workspace}…`;
  xhr.send(fields);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (form) form.addEventListener("submit", (event) => { event.preventDefault(); startUpload(form); });
  const library = document.getElementById("library-load");
  if (library) library.addEventListener("submit", (event) => { event.preventDefault(); startLibraryLoad(library); });
});
