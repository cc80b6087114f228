// Uploads and deletes for the listing page. Browsing works without this script; it only runs
// on pages whose client may write (the server leaves the controls out otherwise).
"use strict";
(function () {
  const upload = document.getElementById("upload");
  if (!upload) {
    return;
  }
  for (const hidden of document.querySelectorAll("#upload, .actions")) {
    hidden.hidden = false;
  }
  const progress = document.getElementById("progress");
  // the names this page lists: an upload under one of them replaces a file, so it asks first
  const listed = new Set(
    Array.from(document.querySelectorAll("tbody tr:not(.parent) td.name a"), (a) => a.dataset.name),
  );

  // A name for a dialog or a label: bidi controls shown as their code points, as the server
  // shows them in the page, so that no name reads backwards ("photo\u202Egpj.exe").
  function shown(name) {
    return name.replace(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, (c) =>
      "[U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + "]",
    );
  }

  // One PUT per file, relative to this directory's URL (it ends in "/"). XMLHttpRequest
  // rather than fetch: only it reports upload progress.
  function send(file, replace) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    const bar = document.createElement("progress");
    label.textContent = shown(file.name);
    bar.max = file.size || 1;
    bar.value = 0;
    item.append(bar, label);
    progress.append(item);
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      request.open("PUT", encodeURIComponent(file.name));
      if (!replace) {
        // a file that appeared since this page was loaded is not replaced unasked (412)
        request.setRequestHeader("If-None-Match", "*");
      }
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          bar.max = event.total;
          bar.value = event.loaded;
        }
      });
      request.addEventListener("load", () => {
        const ok = request.status >= 200 && request.status < 300;
        item.className = ok ? "done" : "failed";
        if (ok) {
          bar.value = bar.max;
        }
        label.textContent = shown(file.name) + (ok ? " — uploaded" : " — " + request.status + " " + request.responseText.trim());
        resolve(ok);
      });
      request.addEventListener("error", () => {
        item.className = "failed";
        label.textContent = shown(file.name) + " — network error";
        resolve(false);
      });
      request.send(file);
    });
  }

  async function sendAll(files) {
    let allOk = true;
    let sent = 0;
    for (const file of files) {
      const replace = listed.has(file.name);
      if (replace && !confirm("Replace " + shown(file.name) + "?")) {
        continue;
      }
      allOk = (await send(file, replace)) && allOk;
      sent += 1;
    }
    // the page shows the new files; after a failure it keeps the messages instead
    if (sent > 0 && allOk) {
      location.reload();
    }
  }

  const picker = document.getElementById("picker");
  picker.addEventListener("change", () => {
    sendAll(Array.from(picker.files));
    picker.value = "";
  });

  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth -= 1;
    if (depth <= 0) {
      depth = 0;
      document.body.classList.remove("dragging");
    }
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    document.body.classList.remove("dragging");
    sendAll(Array.from(event.dataTransfer.files));
  });

  // A Delete button per file, made here rather than sent in every row: the page is smaller
  // (a third, for a large directory), and without the script it would do nothing anyway.
  for (const row of document.querySelectorAll("tbody tr")) {
    const cell = row.insertCell();
    cell.className = "actions";
    const link = row.querySelector("td.name a");
    if (!link || row.classList.contains("parent") || row.classList.contains("dir")) {
      continue;
    }
    const name = shown(link.dataset.name);
    const href = link.getAttribute("href");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "delete";
    button.textContent = "Delete";
    cell.append(button);
    button.addEventListener("click", async () => {
      if (!confirm("Delete " + name + "?")) {
        return;
      }
      const response = await fetch(href, { method: "DELETE" });
      if (response.ok) {
        row.remove();
      } else {
        alert("Could not delete " + name + ": " + response.status + " " + (await response.text()).trim());
      }
    });
  }
})();
