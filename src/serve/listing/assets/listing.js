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

  const carriesFiles = (event) => Array.from(event.dataTransfer.types).includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) {
      return;
    }
    event.preventDefault();
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) {
      return;
    }
    depth -= 1;
    if (depth <= 0) {
      depth = 0;
      document.body.classList.remove("dragging");
    }
  });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    if (!carriesFiles(event)) {
      return;
    }
    depth = 0;
    document.body.classList.remove("dragging");
    sendAll(Array.from(event.dataTransfer.files));
  });

  // Folders, renames, moves and deletes: the WebDAV methods (MKCOL, MOVE, DELETE), so the
  // page has the one write API and the access rules of every other client.
  for (const hidden of document.querySelectorAll("#manage")) {
    hidden.hidden = false;
  }
  const status = document.getElementById("status");
  const here = location.pathname;
  const say = (text, bad) => {
    status.textContent = text;
    status.className = bad ? "failed" : "done";
  };

  // What a refusal means to a person; the server's own one-line reason follows.
  function explain(method, response, text) {
    const reasons = {
      403: "refused",
      404: "not found (moved or deleted meanwhile?)",
      409: "a folder on the way does not exist",
      412: "an entry with that name already exists",
      423: "locked by another client",
      507: "the disk is full",
    };
    let reason = reasons[response.status];
    if (method === "MKCOL" && response.status === 405) {
      reason = "an entry with that name already exists";
    }
    return response.status + " " + (reason || "failed") + (text ? ": " + text : "");
  }

  async function dav(method, url, headers) {
    const response = await fetch(url, { method: method, headers: headers || {} });
    const text = (await response.text()).trim();
    // a 207 lists the members that could not be handled: the request only half succeeded
    const ok = response.ok && response.status !== 207;
    return { ok: ok, message: ok ? "" : explain(method, response, text.slice(0, 300)) };
  }

  // "/files/a b/" typed by a person, or pasted from the address bar, as an encoded path
  function folderUrl(typed) {
    let path = typed.trim();
    try {
      path = decodeURIComponent(path);
    } catch (e) {
      // a bare "%" is a name, not an escape
    }
    path = path.replace(/^\/?files(\/|$)/, "");
    const segments = path.split("/").filter((s) => s !== "" && s !== ".");
    return "/files/" + segments.map((s) => encodeURIComponent(s) + "/").join("");
  }

  const entries = [];
  for (const row of document.querySelectorAll("tbody tr:not(.parent)")) {
    const link = row.querySelector("td.name a");
    const isDir = row.classList.contains("dir");
    const name = link.dataset.name;
    entries.push({ row: row, name: name, isDir: isDir, href: link.getAttribute("href") });
  }

  const target = (entry, folder, newName) =>
    location.origin + folder + encodeURIComponent(newName) + (entry.isDir ? "/" : "");

  // Moves or renames each entry; an entry that is there already is never replaced (412).
  async function move(chosen, folder, rename) {
    const failures = [];
    for (const entry of chosen) {
      const destination = target(entry, folder, rename === undefined ? entry.name : rename);
      const result = await dav("MOVE", entry.href, { Destination: destination, Overwrite: "F" });
      if (!result.ok) {
        failures.push(shown(entry.name) + ": " + result.message);
      }
    }
    finish(chosen.length, failures, rename === undefined ? "moved" : "renamed");
  }

  function finish(count, failures, done) {
    if (failures.length === 0) {
      say(count + (count === 1 ? " entry " : " entries ") + done);
      location.reload();
    } else {
      say("Could not do it for " + failures.join("; "), true);
    }
  }

  // How many entries a folder holds, for the confirmation before it is deleted.
  async function count(entry) {
    const response = await fetch(entry.href, { headers: { Accept: "application/json" } });
    return response.ok ? (await response.json()).length : "an unknown number of";
  }

  async function remove(chosen) {
    const lines = [];
    for (const entry of chosen) {
      lines.push(entry.isDir ? "the folder " + shown(entry.name) + " and the " + (await count(entry)) + " entries in it" : shown(entry.name));
    }
    if (!confirm("Delete " + lines.join(", ") + "?")) {
      return;
    }
    const failures = [];
    for (const entry of chosen) {
      const result = await dav("DELETE", entry.href);
      if (!result.ok) {
        failures.push(shown(entry.name) + ": " + result.message);
      }
    }
    finish(chosen.length, failures, "deleted");
  }

  function askMove(chosen) {
    const what = chosen.length === 1 ? shown(chosen[0].name) : chosen.length + " entries";
    const typed = prompt("Move " + what + " to which folder? (a path such as /files/photos/)", decodeURIComponent(here));
    if (typed !== null) {
      move(chosen, folderUrl(typed));
    }
  }

  function askRename(entry) {
    const typed = prompt("Rename " + shown(entry.name) + " to:", entry.name);
    if (typed === null || typed === entry.name) {
      return;
    }
    if (typed === "" || typed.includes("/")) {
      say("A name cannot be empty or hold a /", true);
      return;
    }
    move([entry], here, typed);
  }

  document.getElementById("new-folder").addEventListener("click", async () => {
    const typed = prompt("New folder name:");
    if (typed === null || typed === "") {
      return;
    }
    if (typed.includes("/")) {
      say("A name cannot hold a /", true);
      return;
    }
    const result = await dav("MKCOL", encodeURIComponent(typed) + "/");
    finish(1, result.ok ? [] : [typed + ": " + result.message], "created");
  });

  // Selection: a checkbox per row and the buttons that act on what is checked.
  const selected = () => entries.filter((e) => e.box.checked);
  const selectionButtons = ["move-selected", "delete-selected", "download-selected"].map((id) => document.getElementById(id));
  function selectionChanged() {
    const n = selected().length;
    document.getElementById("selected-count").textContent = n + " selected";
    for (const button of selectionButtons) {
      button.disabled = n === 0;
    }
  }
  document.getElementById("move-selected").addEventListener("click", () => askMove(selected()));
  document.getElementById("delete-selected").addEventListener("click", () => remove(selected()));
  document.getElementById("download-selected").addEventListener("click", () => {
    location.href = "?download=zip" + selected().map((e) => "&name=" + encodeURIComponent(e.name)).join("");
  });

  function button(cell, label, className, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = label;
    b.addEventListener("click", action);
    cell.append(b, " ");
  }

  // Drag a row (or the checked rows) onto a folder row or a breadcrumb to move it there.
  const DRAG_TYPE = "application/x-listing-move";
  function dropTarget(element, folder) {
    element.addEventListener("dragover", (event) => {
      if (Array.from(event.dataTransfer.types).includes(DRAG_TYPE)) {
        event.preventDefault();
        element.classList.add("drop-here");
      }
    });
    element.addEventListener("dragleave", () => element.classList.remove("drop-here"));
    element.addEventListener("drop", (event) => {
      element.classList.remove("drop-here");
      const names = event.dataTransfer.getData(DRAG_TYPE);
      if (!names) {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
      const chosen = JSON.parse(names).map((n) => entries.find((e) => e.name === n)).filter((e) => e && folder !== here + e.href);
      if (chosen.length > 0) {
        move(chosen, folder);
      }
    });
  }
  for (const crumb of document.querySelectorAll("nav.crumbs a")) {
    dropTarget(crumb, crumb.getAttribute("href"));
  }
  const parent = document.querySelector("tr.parent");
  if (parent) {
    parent.insertCell().className = "actions";
    dropTarget(parent, new URL("../", location.href).pathname);
  }

  for (const entry of entries) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "select";
    box.setAttribute("aria-label", "Select " + shown(entry.name));
    box.addEventListener("change", selectionChanged);
    entry.box = box;
    entry.row.querySelector("td.name").prepend(box, " ");
    const cell = entry.row.insertCell();
    cell.className = "actions";
    button(cell, "Rename", "rename", () => askRename(entry));
    button(cell, "Move to…", "move", () => askMove([entry]));
    button(cell, "Delete", "delete", () => remove([entry]));
    entry.row.draggable = true;
    entry.row.addEventListener("dragstart", (event) => {
      const chosen = entry.box.checked ? selected() : [entry];
      event.dataTransfer.setData(DRAG_TYPE, JSON.stringify(chosen.map((e) => e.name)));
      event.dataTransfer.effectAllowed = "move";
    });
    if (entry.isDir) {
      dropTarget(entry.row, here + entry.href);
    }
  }
})();
