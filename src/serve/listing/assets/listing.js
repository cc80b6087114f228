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

  // Files from this size up are sent resumably (the IETF resumable-upload draft): the
  // server keeps what reached it, so a dropped connection, a restarted server or a reloaded
  // page costs the bytes in flight, not the file.
  const RESUMABLE_FROM = 8 << 20;
  // appends this long stay under the body limits of proxies on the way
  const CHUNK = 8 << 20;
  const VERSION = { "Upload-Draft-Interop-Version": "9" };
  const mib = (bytes) => (bytes / 1048576).toFixed(1) + " MiB";
  // An answer that sending again will not change (the message says why).
  class Refused extends Error {}
  // The connection dropped, the server was away or busy, or the page paused: ask the server
  // for its offset and go on from there.
  class Lost extends Error {}

  // A row in the upload list: a bar and a label.
  function row(file) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    const bar = document.createElement("progress");
    label.textContent = shown(file.name);
    bar.max = file.size || 1;
    bar.value = 0;
    item.append(bar, label);
    progress.append(item);
    return { item, bar, label };
  }

  // One PUT per file, relative to this directory's URL (it ends in "/"). XMLHttpRequest
  // rather than fetch: only it reports upload progress. Big files go resumably instead.
  function send(file, replace) {
    if (file.size >= RESUMABLE_FROM) {
      return sendResumably(file, replace, row(file));
    }
    const { item, bar, label } = row(file);
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

  // Where an upload resource is remembered across reloads, so that picking the same file
  // again (same folder, name, size and modification time) resumes it.
  // Without storage (disabled, full) a reload starts afresh; nothing else changes.
  const storage = (use) => {
    try {
      return use(localStorage);
    } catch {
      return null;
    }
  };
  const remembered = {
    get: (key) => storage((s) => s.getItem(key)),
    set: (key, url) => storage((s) => s.setItem(key, url)),
    forget: (key) => storage((s) => s.removeItem(key)),
  };

  async function answerText(response) {
    return response.status + " " + (await response.text()).trim();
  }

  // A network failure or a server error is worth another try; a full disk (507) or too many
  // open uploads (429) is not until someone acts, so it is the answer, as any 4xx is.
  function lostOrRefused(status, text) {
    return status === 0 || (status >= 500 && status !== 507) ? new Lost(text) : new Refused(text);
  }

  // One resumable upload: create the upload resource (or find it again), append the file
  // from the server's offset in chunks, and on any break wait (1, 2, 4 ... 30 s), ask the
  // resource for its offset and go on. Pause and Cancel sit on its row.
  function sendResumably(file, replace, { item, bar, label }) {
    const key = "upload " + JSON.stringify([location.pathname, file.name, file.size, file.lastModified]);
    const up = { url: remembered.get(key), offset: null, resumedAt: null, sent: 0, paused: false, cancelled: false, request: null, wake: null };
    item.dataset.sent = "0";
    const say = (what) => {
      let text = shown(file.name) + " — " + mib(bar.value) + " of " + mib(file.size);
      if (up.resumedAt !== null) {
        text += ", resumed at " + mib(up.resumedAt);
      }
      label.textContent = text + ", " + mib(up.sent) + " sent" + (what ? " — " + what : "");
    };
    // breaks in a row, for the backoff: only an append that went through starts it again
    let failures = 0;
    const wait = (ms) =>
      new Promise((resolve) => {
        up.wake = resolve;
        if (ms !== null) {
          setTimeout(resolve, ms);
        }
      });
    const pause = document.createElement("button");
    pause.type = "button";
    pause.className = "pause";
    pause.textContent = "Pause";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "cancel";
    cancel.textContent = "Cancel";
    item.append(pause, cancel);

    async function create() {
      const headers = { ...VERSION, "Upload-Complete": "?0", "Upload-Length": String(file.size) };
      if (!replace) {
        headers["If-None-Match"] = "*";
      }
      const response = await fetch(encodeURIComponent(file.name), { method: "PUT", headers, body: new Blob() });
      const where = response.headers.get("Location");
      if (response.status !== 201 || !where) {
        throw lostOrRefused(response.status, await answerText(response));
      }
      if (up.cancelled) {
        // cancelled while it was being made: it goes at once, and is not remembered
        fetch(where, { method: "DELETE", headers: VERSION }).catch(() => {});
        return;
      }
      up.url = where;
      up.offset = 0;
      remembered.set(key, where);
    }

    // HEAD tells how much the server holds; true when the upload is already complete
    async function locate() {
      const response = await fetch(up.url, { method: "HEAD", headers: VERSION, cache: "no-store" });
      if (response.status === 404) {
        // expired, cancelled elsewhere, or not ours: start again
        remembered.forget(key);
        up.url = null;
        return false;
      }
      if (!response.ok) {
        throw lostOrRefused(response.status, response.status + " " + response.statusText);
      }
      if (response.headers.get("Upload-Complete") === "?1") {
        return true;
      }
      const offset = Number(response.headers.get("Upload-Offset") ?? NaN);
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > file.size) {
        throw new Refused("the server's Upload-Offset is not usable");
      }
      up.offset = offset;
      up.resumedAt = offset;
      item.dataset.resumedAt = String(offset);
      return false;
    }

    // one PATCH of the next chunk; true when it completed the upload
    function append() {
      const end = Math.min(up.offset + CHUNK, file.size);
      return new Promise((resolve, reject) => {
        const request = new XMLHttpRequest();
        up.request = request;
        request.open("PATCH", up.url);
        request.setRequestHeader("Upload-Draft-Interop-Version", VERSION["Upload-Draft-Interop-Version"]);
        request.setRequestHeader("Content-Type", "application/partial-upload");
        request.setRequestHeader("Upload-Offset", String(up.offset));
        request.setRequestHeader("Upload-Complete", end === file.size ? "?1" : "?0");
        let loaded = 0;
        request.upload.addEventListener("progress", (event) => {
          up.sent += event.loaded - loaded;
          loaded = event.loaded;
          item.dataset.sent = String(up.sent);
          bar.value = up.offset + loaded;
          say();
        });
        request.addEventListener("load", () => {
          up.request = null;
          const complete = request.getResponseHeader("Upload-Complete") === "?1";
          if (request.status >= 200 && request.status < 300) {
            failures = 0;
            const offset = Number(request.getResponseHeader("Upload-Offset") ?? NaN);
            up.offset = Number.isSafeInteger(offset) ? offset : end;
            resolve(complete);
          } else if (request.status === 409 && /^application\/problem\+json/.test(request.getResponseHeader("Content-Type") || "")) {
            // the offset was not the server's (another tab, a lost answer): ask it; any other
            // 409 (the folder is gone) is the answer, and picking the file again resumes it
            reject(new Lost("409"));
          } else {
            if (complete) {
              // the last append was taken but the file could not be stored (412, 507 ...)
              remembered.forget(key);
            }
            reject(lostOrRefused(request.status, request.status + " " + request.responseText.trim()));
          }
        });
        for (const broken of ["error", "abort", "timeout"]) {
          request.addEventListener(broken, () => {
            up.request = null;
            reject(new Lost(broken));
          });
        }
        request.send(file.slice(up.offset, end));
      });
    }

    async function step() {
      if (up.url === null) {
        await create();
        return false;
      }
      if (up.offset === null) {
        return locate();
      }
      return append();
    }

    async function run() {
      for (;;) {
        if (up.cancelled) {
          return false;
        }
        if (up.paused) {
          say("paused");
          await wait(null);
          continue;
        }
        try {
          if (await step()) {
            return true;
          }
        } catch (problem) {
          if (up.cancelled) {
            return false;
          }
          if (problem instanceof Refused) {
            throw problem;
          }
          // whatever was in flight may or may not have arrived: the server's offset decides
          up.offset = null;
          if (!up.paused) {
            const delay = Math.min(30, 2 ** failures);
            failures += 1;
            say("connection lost, trying again in " + delay + " s");
            await wait(delay * 1000);
          }
        }
      }
    }

    pause.addEventListener("click", () => {
      up.paused = !up.paused;
      pause.textContent = up.paused ? "Resume" : "Pause";
      if (up.paused && up.request) {
        up.request.abort();
      }
      if (!up.paused && up.wake) {
        up.wake();
      }
    });
    cancel.addEventListener("click", async () => {
      up.cancelled = true;
      pause.disabled = cancel.disabled = true;
      if (up.request) {
        up.request.abort();
      }
      if (up.wake) {
        up.wake();
      }
      remembered.forget(key);
      if (up.url === null) {
        // not made yet, or never: create() removes it when its answer comes
        say("cancelled");
        return;
      }
      // an append the server has not yet seen end holds the upload (409) a moment longer
      for (let tries = 0; tries < 10; tries += 1) {
        try {
          const response = await fetch(up.url, { method: "DELETE", headers: VERSION });
          if (response.status !== 409) {
            say(response.ok || response.status === 404 ? "cancelled" : "not cancelled: " + (await answerText(response)));
            return;
          }
        } catch {
          // the server is away: try again below
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      say("not cancelled: the server did not answer");
    });

    return run().then(
      (done) => {
        pause.remove();
        cancel.remove();
        if (done) {
          remembered.forget(key);
          bar.value = bar.max;
          item.className = "done";
          say("uploaded");
        } else {
          item.className = "failed";
        }
        return done;
      },
      (refused) => {
        pause.remove();
        cancel.remove();
        item.className = "failed";
        say(refused.message);
        return false;
      },
    );
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
