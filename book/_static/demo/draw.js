/*
 * "Draw a digit": the reader draws on a canvas, and the deeper CNN of chapter 4,
 * exported to ONNX, reads it in the browser with ONNX Runtime Web. The book's
 * not-a-digit detector (chapter "Predict your own digits") first decides whether
 * the drawing is a digit at all, with the threshold the library keeps for it.
 * No server: the models and the runtime are files of the book itself.
 *
 * The canvas is prepared by pipeline.js (mnistlib.images repeated in
 * JavaScript), exactly as `python -m mnistlib predict` prepares a picture.
 * window.mnistDemo exposes the page's state and pipeline to the book's tests.
 */
(function () {
  "use strict";

  const P = window.mnistPipeline;
  const root = document.getElementById("draw-demo");
  if (!root || !P || !window.ort) return;
  const staticUrl = new URL("../", document.currentScript.src); // the book's _static/
  const pad = root.querySelector(".draw-demo__pad canvas");
  const seen = root.querySelector(".draw-demo__seen canvas");
  const answer = root.querySelector(".draw-demo__answer");
  const bars = root.querySelector(".draw-demo__bars");
  const status = root.querySelector(".draw-demo__status");
  const overlay = root.querySelector(".draw-demo__overlay input");
  const context = pad.getContext("2d", { willReadFrequently: true });
  const PEN = pad.width / 14; // a stroke about as thick, for the box, as MNIST's

  const demo = {
    ready: false,
    busy: false, // reading the pad now
    readyMs: null, // from the start of the page's load to a usable model
    timings: [], // milliseconds of each reading of the pad while drawing
    afterStroke: [], // milliseconds from lifting the pen to the final answer on the page
    last: null, // the last answer: {digit, probabilities, score, verdict}
    session: null,
    overlays: 0, // occlusion maps shown over the 28x28 input
    detector: null, // the detector's session
    threshold: null, // below it, a drawing is "not a digit"
  };
  window.mnistDemo = demo;

  // ---- the probability bars -------------------------------------------------
  const rows = [];
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement("div");
    row.className = "draw-demo__bar";
    row.innerHTML =
      `<span class="draw-demo__digit">${digit}</span>` +
      '<span class="draw-demo__track"><span class="draw-demo__fill"></span></span>' +
      '<span class="draw-demo__percent"></span>';
    bars.appendChild(row);
    rows.push(row);
  }

  function showProbabilities(probabilities) {
    const best = probabilities.indexOf(Math.max(...probabilities));
    rows.forEach((row, digit) => {
      const p = probabilities[digit];
      row.querySelector(".draw-demo__fill").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".draw-demo__percent").textContent = `${(100 * p).toFixed(1)} %`;
      row.classList.toggle("draw-demo__bar--best", digit === best);
    });
    answer.innerHTML =
      `<span class="draw-demo__big">${best}</span> ` +
      `<span>${(100 * probabilities[best]).toFixed(1)} % sure</span>`;
  }

  function showNotADigit(probabilities) {
    showProbabilities(probabilities);
    rows.forEach((row) => row.classList.remove("draw-demo__bar--best"));
    bars.classList.add("draw-demo__bars--dim");
    answer.innerHTML =
      '<span class="draw-demo__big draw-demo__big--no">Not a digit</span> ' +
      "<span>it looks like no digit the model knows</span>";
  }

  function showNothing(message) {
    bars.classList.remove("draw-demo__bars--dim");
    rows.forEach((row) => {
      row.querySelector(".draw-demo__fill").style.width = "0%";
      row.querySelector(".draw-demo__percent").textContent = "";
      row.classList.remove("draw-demo__bar--best");
    });
    answer.textContent = message;
    seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
    demo.last = null;
  }

  function showInput(centred) {
    const pixels = new ImageData(P.FIELD, P.FIELD);
    centred.forEach((v, i) => {
      const level = 255 - Math.round(255 * v); // ink dark on light, as the book draws digits
      pixels.data.set([level, level, level, 255], 4 * i);
    });
    seen.getContext("2d").putImageData(pixels, 0, 0);
  }

  // ---- what the network looks at: an occlusion map, as mnistlib.saliency makes it ----
  const PATCH = 4;
  const STRIDE = 2;
  const STARTS = [];
  for (let start = 0; start + PATCH <= P.FIELD; start += STRIDE) STARTS.push(start);

  /** How much covering each pixel with paper lowers the probability of `digit`: 784
   * values. One row of squares per run of the model, so that the page stays responsive;
   * null if `stillWanted()` turns false on the way (the reader drew on). */
  async function occlusionMap(centred, digit, before, stillWanted = () => true) {
    const fall = new Float32Array(P.FIELD * P.FIELD);
    const covered = new Float32Array(P.FIELD * P.FIELD);
    const size = P.FIELD * P.FIELD;
    for (const row of STARTS) {
      if (!stillWanted()) return null;
      const batch = new Float32Array(STARTS.length * size);
      STARTS.forEach((column, k) => {
        batch.set(centred, k * size);
        for (let r = row; r < row + PATCH; r++) {
          batch.fill(0, k * size + r * P.FIELD + column, k * size + r * P.FIELD + column + PATCH);
        }
      });
      const input = new ort.Tensor("float32", batch, [STARTS.length, P.FIELD, P.FIELD, 1]);
      const output = await demo.session.run({ [demo.session.inputNames[0]]: input });
      const probabilities = output[demo.session.outputNames[0]].data;
      STARTS.forEach((column, k) => {
        const drop = before - probabilities[k * 10 + digit];
        for (let r = row; r < row + PATCH; r++) {
          for (let c = column; c < column + PATCH; c++) {
            fall[r * P.FIELD + c] += drop;
            covered[r * P.FIELD + c] += 1;
          }
        }
      });
    }
    return fall.map((value, i) => value / covered[i]);
  }

  /** The 28x28 input with the map over it: red where covering lowers the answer. */
  function showOverlay(centred, map) {
    const largest = Math.max(...map, 1e-9);
    const pixels = new ImageData(P.FIELD, P.FIELD);
    centred.forEach((v, i) => {
      const level = 255 - Math.round(255 * v);
      const red = Math.max(0, map[i]) / largest; // 0 to 1
      const mix = (paper, tint) => Math.round(paper * (1 - 0.8 * red) + tint * 0.8 * red);
      pixels.data.set([mix(level, 220), mix(level, 30), mix(level, 30), 255], 4 * i);
    });
    seen.getContext("2d").putImageData(pixels, 0, 0);
  }

  demo.occlusionMap = async (centred, digit) => {
    const input = new ort.Tensor("float32", Float32Array.from(centred), [1, P.FIELD, P.FIELD, 1]);
    const before = (await outputsOf(demo.session, input))[digit];
    return Array.from(await occlusionMap(Float32Array.from(centred), digit, before));
  };

  let drawings = 0; // counts changes of the pad: an overlay for an older drawing is dropped

  async function overlayAfterAnswer(result) {
    const mine = drawings;
    const wanted = () => overlay.checked && mine === drawings;
    const centred = Float32Array.from(result.centred);
    const before = result.probabilities[result.digit];
    const map = await occlusionMap(centred, result.digit, before, wanted);
    if (map && wanted()) {
      showOverlay(result.centred, map);
      demo.overlays += 1;
    }
  }

  // ---- reading a digit --------------------------------------------------------
  async function outputsOf(session, input) {
    const output = await session.run({ [session.inputNames[0]]: input });
    return Array.from(output[session.outputNames[0]].data);
  }

  /** The whole path from grey levels to ten probabilities and the verdict; used by the
   * tests too. The verdict is "not a digit" when the detector's score is below its
   * threshold, as in `python -m mnistlib predict`. */
  async function readGray(gray) {
    const steps = P.preprocess(gray);
    const input = new ort.Tensor("float32", Float32Array.from(steps.centred), [1, P.FIELD, P.FIELD, 1]);
    const probabilities = await outputsOf(demo.session, input);
    const [score] = await outputsOf(demo.detector, input); // the same 28x28 input
    const digit = probabilities.indexOf(Math.max(...probabilities));
    const verdict = score >= demo.threshold ? "digit" : "not a digit";
    return { digit, probabilities, score, verdict, centred: Array.from(steps.centred) };
  }

  demo.readGray = (width, height, data) =>
    readGray(P.image(width, height, Float32Array.from(data)));
  demo.canvasPNG = () => pad.toDataURL("image/png");

  let again = false;
  let penLifted = null; // when the pen last left the pad, until the answer for it is shown

  /** Read the pad and show the answer (or "Draw a digit" for an empty pad). */
  async function readPad() {
    const { data } = context.getImageData(0, 0, pad.width, pad.height);
    try {
      const result = await readGray(P.grayFromRGBA(data, pad.width, pad.height));
      showInput(result.centred);
      bars.classList.remove("draw-demo__bars--dim");
      if (result.verdict === "digit") showProbabilities(result.probabilities);
      else showNotADigit(result.probabilities);
      demo.last = result;
    } catch (error) {
      if (!(error instanceof P.NoDigitError)) throw error;
      showNothing("Draw a digit");
    }
  }

  async function readCanvas() {
    if (!demo.ready) return;
    if (demo.busy) {
      again = true; // read once more when the current reading is done
      return;
    }
    demo.busy = true;
    const started = performance.now();
    const lifted = penLifted; // this reading sees the whole stroke if it starts after the lift
    try {
      await readPad();
    } finally {
      const now = performance.now();
      demo.timings.push(now - started);
      const final = lifted !== null && lifted === penLifted;
      if (final) {
        demo.afterStroke.push(now - lifted);
        penLifted = null;
      }
      demo.busy = false;
      if (final && overlay.checked && demo.last && demo.last.verdict === "digit") {
        overlayAfterAnswer(demo.last); // after the answer is on the page, never before
      }
    }
    if (again) {
      again = false;
      readCanvas();
    }
  }

  // ---- drawing ------------------------------------------------------------------
  function clear() {
    context.fillStyle = "#fff"; // white paper: the canvas is always opaque
    context.fillRect(0, 0, pad.width, pad.height);
    showNothing(demo.ready ? "Draw a digit" : "Loading the model…");
  }

  function position(event) {
    const box = pad.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * pad.width) / box.width,
      ((event.clientY - box.top) * pad.height) / box.height,
    ];
  }

  let last = null;
  pad.addEventListener("pointerdown", (event) => {
    drawings += 1;
    pad.setPointerCapture(event.pointerId);
    last = position(event);
    context.beginPath();
    context.arc(last[0], last[1], PEN / 2, 0, 2 * Math.PI);
    context.fillStyle = "#000";
    context.fill();
    readCanvas();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = position(event);
    line(last, next);
    last = next;
    readCanvas();
  });
  const stop = () => {
    if (last) {
      penLifted = performance.now();
      readCanvas();
    }
    last = null;
  };
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);
  root.querySelector(".draw-demo__clear").addEventListener("click", () => {
    drawings += 1;
    clear();
  });
  overlay.addEventListener("change", () => {
    drawings += 1;
    if (!demo.last) return;
    showInput(demo.last.centred);
    if (overlay.checked && demo.last.verdict === "digit") overlayAfterAnswer(demo.last);
  });

  Object.assign(context, { lineWidth: PEN, lineCap: "round", lineJoin: "round" });
  context.strokeStyle = "#000";
  clear();

  // ---- loading the runtime and the model, from the book's own files -----------
  /** Draw a line (or, with one point, a dot) on the pad, as the pointer handlers do. */
  function line(from, to) {
    context.beginPath();
    context.moveTo(...from);
    context.lineTo(...to);
    context.stroke();
  }

  // Strokes the page reads while loading: the first readings run slower, until the
  // browser has compiled the code, so they are done now rather than on the reader's.
  const PRACTICE = [
    [[60, 40], [220, 240]],
    [[140, 140], [140, 140]],
    [[100, 120], [180, 150]],
  ];

  async function load() {
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is plenty here
    ort.env.wasm.wasmPaths = new URL("ort/", staticUrl).href;
    const options = { executionProviders: ["wasm"] };
    const url = (name) => new URL(`demo/${name}`, staticUrl).href;
    const record = await fetch(url("digit-detector.json"));
    if (!record.ok) throw new Error(`digit-detector.json: HTTP ${record.status}`);
    [demo.session, demo.detector, demo.threshold] = await Promise.all([
      ort.InferenceSession.create(url("deeper-cnn.onnx"), options),
      ort.InferenceSession.create(url("digit-detector.onnx"), options),
      record.json().then((r) => r.threshold),
    ]);
    for (let round = 0; round < 2; round++) {
      for (const [from, to] of PRACTICE) {
        line(from, to);
        await readPad();
        clear();
      }
    }
    demo.ready = true;
    demo.readyMs = performance.now();
    status.textContent = "Model loaded: draw with your mouse, pen or finger.";
    clear();
  }

  load().catch((error) => {
    status.textContent = `The model could not be loaded: ${error.message}`;
    throw error;
  });
})();
