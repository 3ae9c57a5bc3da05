// Live monitor: renders the /stream/ Server-Sent Events and sends the door buttons' commands.
// No build step, no framework: the page is three tables kept in step with the stream.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("monitor-config").textContent);
  const MAX_EVENTS = 300;
  const MAX_COMMANDS = 50;
  const $ = (selector) => document.querySelector(selector);
  let source = null;

  function text(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function cell(row, value, className) {
    const td = document.createElement("td");
    td.textContent = text(value);
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return isNaN(date) ? iso : date.toLocaleString();
  }

  // -- devices and doors ---------------------------------------------------------------------
  function button(label, action, device, door, title) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = "cmd";
    b.dataset.action = action;
    b.dataset.device = device;
    if (door !== null) b.dataset.door = door;
    if (title) b.title = title;
    return b;
  }

  function renderDevices(devices) {
    const box = $("#devices");
    box.replaceChildren();
    if (!devices.length) {
      box.innerHTML = '<p class="muted">No devices yet: add them in the admin.</p>';
      return;
    }
    for (const device of devices) {
      const card = document.createElement("article");
      card.className = "device " + device.state;
      card.dataset.deviceId = device.id;
      const head = document.createElement("header");
      const name = document.createElement("strong");
      name.textContent = device.alias;
      const badge = document.createElement("span");
      badge.className = "badge " + device.state;
      badge.textContent = device.state;
      badge.dataset.role = "state";
      head.append(name, " ", badge);
      if (device.sn) head.append(" ", Object.assign(document.createElement("span"), {className: "muted", textContent: device.sn}));
      if (config.canCommand) {
        const tools = document.createElement("span");
        tools.className = "tools";
        tools.append(button("Sync time", "sync_time", device.id, null, "set the panel clock"),
          button("Cancel all alarms", "cancel_alarm", device.id, 0));
        head.appendChild(tools);
      }
      card.appendChild(head);
      const facts = document.createElement("dl");
      const code = device.last_return_code === null ? "" : device.last_return_code + " " + device.return_text;
      for (const [label, value] of [["last activity", when(device.last_activity)], ["last return code", code],
        ["last operation", device.last_op], ["pending commands", device.pending], ["note", device.reason || device.detail]]) {
        const dt = document.createElement("dt"); dt.textContent = label;
        const dd = document.createElement("dd"); dd.textContent = text(value);
        dd.dataset.role = label.replace(/ /g, "-");
        facts.append(dt, dd);
      }
      card.appendChild(facts);
      const table = document.createElement("table");
      table.className = "grid doors";
      table.innerHTML = "<thead><tr><th>door</th><th>sensor</th><th>alarm</th><th>lock (last command)</th><th></th></tr></thead>";
      const body = document.createElement("tbody");
      for (const door of device.doors) {
        const row = document.createElement("tr");
        row.dataset.door = door.door;
        if (door.alarm || door.open_timeout) row.className = "alarm";
        cell(row, door.door);
        cell(row, door.sensor, "sensor " + door.sensor.replace(/ /g, "-"));
        cell(row, door.alarm ? "ALARM" : door.open_timeout ? "open too long" : "—");
        const relay = door.relay + (door.relay_until ? " until " + new Date(door.relay_until).toLocaleTimeString() : "");
        cell(row, relay, "relay");
        const actions = cell(row, "");
        if (config.canCommand) {
          actions.append(button("Open", "open", device.id, door.door, "open for the seconds above"),
            button("Close", "close", device.id, door.door),
            button("Normal-open on", "normal_open_on", device.id, door.door),
            button("Normal-open off", "normal_open_off", device.id, door.door),
            button("Cancel alarm", "cancel_alarm", device.id, door.door));
        }
        body.appendChild(row);
      }
      table.appendChild(body);
      card.appendChild(table);
      box.appendChild(card);
    }
  }

  // -- commands ------------------------------------------------------------------------------
  function upsertCommand(command) {
    const body = $("#commands tbody");
    let row = body.querySelector('tr[data-command-id="' + command.id + '"]');
    const fresh = !row;
    if (fresh) {
      row = document.createElement("tr");
      row.dataset.commandId = command.id;
    }
    row.replaceChildren();
    row.className = "status-" + command.status;
    row.dataset.status = command.status;
    cell(row, command.id);
    cell(row, command.device);
    cell(row, command.content, "mono");
    cell(row, command.status, "status");
    cell(row, command.return_code === null ? "" : command.return_code + " " + command.return_text, "code");
    cell(row, command.return_content, "mono");
    cell(row, when(command.commit_time));
    cell(row, when(command.over_time));
    if (fresh) {
      // Newest first: insert before the first row with a smaller id.
      const later = Array.from(body.children).find((r) => Number(r.dataset.commandId) < command.id);
      body.insertBefore(row, later || null);
      while (body.children.length > MAX_COMMANDS) body.lastElementChild.remove();
    }
  }

  // -- events --------------------------------------------------------------------------------
  function addEvents(rows, backlog) {
    const body = $("#events tbody");
    if (backlog) body.replaceChildren();
    for (const event of rows) {
      if (body.querySelector('tr[data-event-id="' + event.id + '"]')) continue;
      const row = document.createElement("tr");
      row.dataset.eventId = event.id;
      row.dataset.eventType = event.event_type;
      if (event.alarm) row.className = "alarm";
      if (!backlog) row.classList.add("new");
      cell(row, when(event.time));
      cell(row, event.device);
      cell(row, event.door === null ? event.point : event.door);
      cell(row, event.event_type + " " + event.event + (event.description ? " (" + event.description + ")" : ""));
      cell(row, event.pin);
      cell(row, event.card_no);
      cell(row, event.verified);
      cell(row, event.inout);
      body.insertBefore(row, body.firstChild);
    }
    while (body.children.length > MAX_EVENTS) body.lastElementChild.remove();
  }

  // -- the stream ----------------------------------------------------------------------------
  function linkState(state, label) {
    const el = $("#link-state");
    el.className = "link " + state;
    el.textContent = label;
  }

  function problem(message) {
    const el = $("#problem");
    el.hidden = !message;
    el.textContent = message || "";
  }

  function connect() {
    if (source) source.close();
    const params = new URLSearchParams(new FormData($("#filters")));
    for (const [key, value] of Array.from(params.entries())) if (!value) params.delete(key);
    source = new EventSource(config.stream + (params.toString() ? "?" + params : ""));
    source.onopen = () => linkState("live", "live");
    source.onerror = () => linkState("connecting", "reconnecting…");  // EventSource retries itself
    source.addEventListener("devices", (m) => renderDevices(JSON.parse(m.data)));
    source.addEventListener("commands", (m) => JSON.parse(m.data).forEach(upsertCommand));
    source.addEventListener("events", (m) => {
      const data = JSON.parse(m.data);
      addEvents(data.rows, data.backlog);
    });
    source.addEventListener("problem", (m) => problem(JSON.parse(m.data).error));
  }

  // -- buttons -------------------------------------------------------------------------------
  async function send(b) {
    const payload = {action: b.dataset.action, device: Number(b.dataset.device)};
    if (b.dataset.door !== undefined) payload.door = Number(b.dataset.door);
    if (payload.action === "open") payload.seconds = Number($("#open-seconds").value);
    b.disabled = true;
    try {
      const response = await fetch(config.command, {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRFToken": config.csrf},
        body: JSON.stringify(payload),
        credentials: "same-origin",
      });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || response.statusText);
      upsertCommand(data.command);
      problem("");
    } catch (error) {
      problem("Command not queued: " + error.message);
    } finally {
      b.disabled = false;
    }
  }

  document.addEventListener("click", (e) => {
    const b = e.target.closest("button.cmd");
    if (b) send(b);
  });
  $("#filters").addEventListener("change", connect);
  connect();
})();
