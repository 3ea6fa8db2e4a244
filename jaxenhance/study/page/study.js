// The study page (DSIS, ITU-R BT.500): for each trial the reference A, then the test stimulus B
// (images in sequence or side by side; clips played whole, in sequence, without controls), then
// a score on a continuous 0-100 impairment scale with the five ITU labels. Nothing proceeds
// without a score. The participant id lives in localStorage and in the URL (#p=...), so closing
// the tab and opening the page again resumes at the first unscored trial; the server keeps the
// order and refuses a second score for a trial (another window, a replay).
// body[data-state] names the page state (loading, welcome, reference, gap, test, pair, vote,
// saving, done, error); the browser test and the CSS read it.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SECTIONS = {
    loading: [], welcome: ["welcome"], error: ["welcome"], reference: ["stage"],
    gap: ["stage"], test: ["stage"], pair: ["stage"], vote: ["vote"], saving: ["vote"],
    done: ["done"],
  };
  let study = null;
  let participant = null;
  let current = null;  // the server's state: progress and the next trial
  let score = null;
  let voteStarted = 0;
  let busy = false;
  let run = 0;  // bumped per trial, so a superseded trial's timers do nothing

  function setState(name) {
    document.body.dataset.state = name;
    const shown = SECTIONS[name].slice();
    const scoring = name === "vote" || name === "saving";
    if (scoring && study && study.presentation.mode === "side-by-side") shown.push("stage");
    for (const id of ["welcome", "stage", "vote", "done"]) $(id).hidden = !shown.includes(id);
  }

  function notice(text) {
    // Server messages start in lower case (they also end up in logs); a sentence starts upper.
    $("message").textContent = text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
    $("message").hidden = !text;
  }

  async function api(method, url, data) {
    const options = { method, headers: { Accept: "application/json" } };
    if (data !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(data);
    }
    const response = await fetch(url, options);
    let payload = {};
    try { payload = await response.json(); } catch (e) { /* not JSON: keep the status */ }
    if (!response.ok) {
      const error = new Error(payload.error || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  const sleep = (seconds) => new Promise((done) => setTimeout(done, seconds * 1000));
  const storageKey = () => `jaxenhance-study:${study.id}`;

  function remember(id) {
    participant = id;
    if (id) {
      localStorage.setItem(storageKey(), id);
      history.replaceState(null, "", `#p=${encodeURIComponent(id)}`);  // no hashchange event
    } else {
      localStorage.removeItem(storageKey());
      history.replaceState(null, "", location.pathname);
    }
  }

  // ---- progress ------------------------------------------------------------------------------

  function showProgress(state) {
    const tests = state.total - state.training;
    let text;
    if (state.done) text = `All ${tests} trials done`;
    else if (state.trial.training) text = `Practice ${state.position + 1} of ${state.training}`;
    else text = `Trial ${state.position - state.training + 1} of ${tests}`;
    $("progress-text").textContent = text;
    $("progress-fill").style.width = `${(100 * state.position) / state.total}%`;
  }

  // ---- stimuli -------------------------------------------------------------------------------

  function load(url) {
    if (study.kind === "clip") {
      const video = document.createElement("video");
      video.muted = true;
      video.playsInline = true;
      video.preload = "auto";
      video.disablePictureInPicture = true;
      return new Promise((resolve, reject) => {
        video.addEventListener("canplaythrough", () => resolve(video), { once: true });
        const fail = () => reject(new Error(`cannot play ${url}`));
        video.addEventListener("error", fail, { once: true });
        video.src = url;
        video.load();
      });
    }
    const image = new Image();
    image.alt = "";
    image.src = url;
    return image.decode().then(() => image, () => { throw new Error(`cannot load ${url}`); });
  }

  function put(slot, element) {
    const box = $(slot).querySelector(".media");
    box.replaceChildren(...(element ? [element] : []));
    $(slot).hidden = !element;
  }

  function playWhole(video) {
    return new Promise((resolve, reject) => {
      video.addEventListener("ended", resolve, { once: true });
      video.currentTime = 0;
      video.play().catch(reject);
    });
  }

  async function show(state, token) {
    const trial = state.trial;
    const [a, b] = await Promise.all([load(trial.reference), load(trial.test)]);
    if (token !== run) return false;
    const p = study.presentation;
    if (p.mode === "side-by-side") {
      put("slot-a", a);
      put("slot-b", b);
      setState("pair");
      await sleep(Math.max(p.reference_seconds, p.test_seconds));
      return token === run;
    }
    put("slot-a", a);
    put("slot-b", null);
    setState("reference");
    if (study.kind === "clip") await playWhole(a); else await sleep(p.reference_seconds);
    if (token !== run) return false;
    setState("gap");
    await sleep(p.gap_seconds);
    if (token !== run) return false;
    put("slot-a", null);
    put("slot-b", b);
    setState("test");
    if (study.kind === "clip") await playWhole(b); else await sleep(p.test_seconds);
    return token === run;
  }

  // ---- trials --------------------------------------------------------------------------------

  async function runTrial(state) {
    const token = ++run;
    current = state;
    showProgress(state);
    if (state.done) {
      document.body.dataset.trial = "";
      setState("done");
      return;
    }
    document.body.dataset.trial = state.trial.id;
    document.body.dataset.position = String(state.trial.position);
    try {
      if (await show(state, token)) startVote();
    } catch (error) {
      if (token !== run) return;
      notice(`${error.message}. Reload the page to try this trial again.`);
      setState("error");
    }
  }

  function startVote() {
    score = null;
    renderScale();
    setState("vote");
    voteStarted = performance.now();
    $("scale").focus();
  }

  function labelOf(value) {
    const labels = study.labels;  // best first; the scale runs from worst (0) to best (100)
    return labels[labels.length - 1 - Math.min(labels.length - 1, Math.floor(value / 20))];
  }

  function setScore(value) {
    score = Math.max(0, Math.min(100, Math.round(value)));
    renderScale();
  }

  function renderScale() {
    const marker = $("marker");
    marker.hidden = score === null;
    $("submit").disabled = score === null || busy;
    if (score === null) {
      $("scale").removeAttribute("aria-valuenow");
      $("readout").textContent = "No score yet: click on the scale or press a key.";
      return;
    }
    marker.style.left = `${score}%`;
    $("scale").setAttribute("aria-valuenow", String(score));
    $("scale").setAttribute("aria-valuetext", `${score}, ${labelOf(score)}`);
    $("readout").textContent = `Your score: ${score} (${labelOf(score)})`;
  }

  async function submit() {
    if (score === null || busy || document.body.dataset.state !== "vote") return;
    busy = true;
    renderScale();
    setState("saving");
    const trial = current.trial;
    try {
      const url = `/api/participants/${encodeURIComponent(participant)}/scores`;
      const next = await api("POST", url, {
        position: trial.position, trial: trial.id, score,
        response_ms: Math.round(performance.now() - voteStarted),
      });
      notice("");
      busy = false;
      runTrial(next);
    } catch (error) {
      busy = false;
      if (error.status === 409) {  // scored elsewhere (another window): continue where it stands
        notice(`${error.message}.`);
        resume();
      } else if (error.status === 404) {
        forget(error.message);
      } else {
        notice(`Your score was not saved (${error.message}); press Next to try again.`);
        setState("vote");
        renderScale();
      }
    }
  }

  // ---- input: mouse and keyboard -------------------------------------------------------------

  function scoreFromPointer(event) {
    const box = $("scale").getBoundingClientRect();
    setScore((100 * (event.clientX - box.left)) / box.width);
  }

  function onKey(event) {
    const state = document.body.dataset.state;
    if (state !== "vote") return;  // playback cannot be skipped or paused
    const steps = {
      ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10,
    };
    if (event.key in steps) {
      setScore((score === null ? 50 : score) + steps[event.key]);
    } else if (event.key === "Home") {
      setScore(0);
    } else if (event.key === "End") {
      setScore(100);
    } else if (/^[1-5]$/.test(event.key)) {
      setScore(20 * Number(event.key) - 10);  // the centre of the key's label band
    } else if (event.key === "Enter") {
      submit();
    } else {
      return;
    }
    event.preventDefault();
  }

  function buildScale() {
    const bands = $("bands");
    for (const label of study.labels.slice().reverse()) {
      const band = document.createElement("div");
      band.textContent = label;
      bands.append(band);
    }
    const list = $("label-list");
    study.labels.forEach((label, i) => {
      const item = document.createElement("li");
      item.textContent = `${label} (key ${study.labels.length - i})`;
      list.append(item);
    });
    let dragging = false;
    $("scale").addEventListener("pointerdown", (event) => {
      dragging = true;
      $("scale").setPointerCapture(event.pointerId);
      scoreFromPointer(event);
    });
    $("scale").addEventListener("pointermove", (event) => {
      if (dragging) scoreFromPointer(event);
    });
    $("scale").addEventListener("pointerup", () => { dragging = false; });
    $("submit").addEventListener("click", submit);
    document.addEventListener("keydown", onKey);
  }

  // ---- start and resume ----------------------------------------------------------------------

  function forget(message) {
    remember(null);
    notice(`${message}. Press Start to begin as a new participant.`);
    $("start").textContent = "Start";
    setState("error");
  }

  async function resume() {
    try {
      runTrial(await api("GET", `/api/participants/${encodeURIComponent(participant)}`));
    } catch (error) {
      if (error.status === 404) forget(error.message);
      else { notice(error.message); setState("error"); }
    }
  }

  async function start() {
    $("start").disabled = true;
    try {
      if (!participant) {
        const state = await api("POST", "/api/participants", {});
        remember(state.participant);
      }
      notice("");
      await resume();
    } catch (error) {
      notice(`Could not start: ${error.message}`);
      setState("error");
    } finally {
      $("start").disabled = false;
    }
  }

  async function init() {
    try {
      study = await api("GET", "/api/study");
    } catch (error) {
      notice(`The study server cannot be reached (${error.message}).`);
      setState("error");
      return;
    }
    document.title = study.title;
    $("title").textContent = study.title;
    $("training-count").textContent = String(study.training);
    $("practice-note").hidden = study.training === 0;
    buildScale();
    $("start").addEventListener("click", start);
    const fromUrl = new URLSearchParams(location.hash.slice(1)).get("p");
    const known = fromUrl || localStorage.getItem(storageKey());
    if (known) {
      participant = known;
      try {
        const state = await api("GET", `/api/participants/${encodeURIComponent(known)}`);
        remember(known);
        showProgress(state);
        $("start").textContent = state.done ? "Show the end" :
          `Continue (${state.position} of ${state.total} scored)`;
      } catch (error) {
        if (error.status === 404) { forget(error.message); return; }
        notice(error.message);
      }
    }
    setState("welcome");
    $("start").focus();
  }

  // A different participant link opened in this tab: start over from it.
  window.addEventListener("hashchange", () => location.reload());
  init();
})();
