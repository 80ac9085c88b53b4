/*
 * The MNIST-style preprocessing of mnistlib.images, repeated in JavaScript for
 * the book's drawing page, step for step and number for number: a digit drawn
 * in the browser and the same picture given to `python -m mnistlib predict`
 * reach the model as the same 28x28 input.
 *
 * Each function names the Python function it repeats. Where Python computes in
 * 32-bit floats (NumPy arrays of float32), this file rounds to 32 bits with
 * Math.fround at the same places; Pillow's resampling and SciPy's filters are
 * repeated as their C code does them. tests/test_demo_pipeline.py runs this
 * file under Node.js and compares it with the Python library.
 *
 * An image is {width, height, data: Float32Array}, row by row.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  } else {
    root.mnistPipeline = api;
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const f32 = Math.fround;
  const DIGIT_BOX = 20; // images.DIGIT_BOX
  const FIELD = 28; // images.FIELD
  const INK_THRESHOLD = f32(0.35); // images.INK_THRESHOLD, compared as a float32

  class NoDigitError extends Error {}

  function image(width, height, data) {
    return { width, height, data: data || new Float32Array(width * height) };
  }

  /** Python's round(): exact halves go to the even neighbour. */
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  /** NumPy's pairwise summation (its sum of a contiguous array), in float32 or float64. */
  function pairwiseSum(values, start, n, round) {
    if (n < 8) {
      let sum = round(-0.0);
      for (let i = start; i < start + n; i++) sum = round(sum + values[i]);
      return sum;
    }
    if (n <= 128) {
      const r = [];
      for (let j = 0; j < 8; j++) r.push(values[start + j]);
      let i = 8;
      for (; i < n - (n % 8); i += 8) {
        for (let j = 0; j < 8; j++) r[j] = round(r[j] + values[start + i + j]);
      }
      let sum = round(
        round(round(r[0] + r[1]) + round(r[2] + r[3])) +
          round(round(r[4] + r[5]) + round(r[6] + r[7])),
      );
      for (; i < n; i++) sum = round(sum + values[start + i]);
      return sum;
    }
    let half = Math.floor(n / 2);
    half -= half % 8;
    return round(
      pairwiseSum(values, start, half, round) + pairwiseSum(values, start + half, n - half, round),
    );
  }

  const identity = (x) => x;

  /** load_grayscale: an opaque RGBA picture (a canvas) to grey levels in [0, 1], 1 = white. */
  function grayFromRGBA(rgba, width, height) {
    const gray = image(width, height);
    for (let i = 0; i < width * height; i++) {
      const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
      const level = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; // Pillow's convert("L")
      gray.data[i] = f32(level / 255);
    }
    return gray;
  }

  /** SciPy's index for mode "reflect": d c b a | a b c d | d c b a. */
  function reflect(i, n) {
    if (i < 0) return -i - 1;
    if (i >= n) return 2 * n - i - 1;
    return i;
  }

  // The median of nine numbers with a fixed network of 19 compare-and-swaps
  // (Paeth's; the order of pairs below), far faster than sorting each window.
  const MEDIAN9 = [
    1, 2, 4, 5, 7, 8, 0, 1, 3, 4, 6, 7, 1, 2, 4, 5, 7, 8, 0, 3, 5, 8, 4, 7, 3, 6, 1, 4, 2, 5, 4,
    7, 4, 2, 6, 4, 4, 2,
  ];

  function medianOf9(w) {
    for (let i = 0; i < MEDIAN9.length; i += 2) {
      const a = MEDIAN9[i];
      const b = MEDIAN9[i + 1];
      if (w[a] > w[b]) {
        const t = w[a];
        w[a] = w[b];
        w[b] = t;
      }
    }
    return w[4];
  }

  /** ndimage.median_filter(size=3). */
  function medianFilter3(img) {
    const { width, height, data } = img;
    const out = image(width, height);
    const w = new Float32Array(9);
    for (let y = 0; y < height; y++) {
      const r0 = reflect(y - 1, height) * width;
      const r1 = y * width;
      const r2 = reflect(y + 1, height) * width;
      for (let x = 0; x < width; x++) {
        const c0 = reflect(x - 1, width);
        const c2 = reflect(x + 1, width);
        w[0] = data[r0 + c0];
        w[1] = data[r0 + x];
        w[2] = data[r0 + c2];
        w[3] = data[r1 + c0];
        w[4] = data[r1 + x];
        w[5] = data[r1 + c2];
        w[6] = data[r2 + c0];
        w[7] = data[r2 + x];
        w[8] = data[r2 + c2];
        const v = w[4];
        // Most of a drawing is blank paper, where the window is one grey: its median.
        const uniform =
          w[0] === v && w[1] === v && w[2] === v && w[3] === v &&
          w[5] === v && w[6] === v && w[7] === v && w[8] === v;
        out.data[r1 + x] = uniform ? v : medianOf9(w);
      }
    }
    return out;
  }

  /** np.median of a float32 array. */
  function medianFloat32(values) {
    const sorted = Float32Array.from(values).sort();
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : f32(f32(sorted[mid - 1] + sorted[mid]) / 2);
  }

  /** images._ink: ink as 1 and paper as 0, whichever of the two is light. */
  function ink(gray) {
    const { width, height, data } = gray;
    const border = new Float32Array(2 * width + 2 * height);
    for (let x = 0; x < width; x++) {
      border[2 * x] = data[x];
      border[2 * x + 1] = data[(height - 1) * width + x];
    }
    for (let y = 0; y < height; y++) {
      border[2 * width + 2 * y] = data[y * width];
      border[2 * width + 2 * y + 1] = data[y * width + width - 1];
    }
    const paper = medianFloat32(border);
    const inverted = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) inverted[i] = paper < 0.5 ? data[i] : f32(1 - data[i]);
    const paperLevel = Math.min(paper, 1 - paper);
    const filtered =
      Math.min(width, height) >= 3
        ? medianFilter3(image(width, height, inverted)).data
        : inverted;
    let strongest = -Infinity;
    for (let i = 0; i < filtered.length; i++) strongest = Math.max(strongest, filtered[i]);
    const contrast = strongest - paperLevel;
    if (contrast < 0.15) {
      throw new NoDigitError("no digit found: the picture is blank or has almost no contrast");
    }
    const level = f32(paperLevel);
    const range = f32(contrast);
    const out = new Float32Array(filtered.length);
    for (let i = 0; i < filtered.length; i++) {
      out[i] = Math.min(1, Math.max(0, f32(f32(filtered[i] - level) / range)));
    }
    return image(width, height, out);
  }

  /** ndimage.label with a 3x3 structure: 8-connected blobs, numbered 1, 2, ... */
  function labelBlobs(mask, width, height) {
    const labels = new Int32Array(width * height);
    const sizes = [0];
    const stack = [];
    for (let start = 0; start < mask.length; start++) {
      if (!mask[start] || labels[start]) continue;
      const label = sizes.length;
      let size = 0;
      labels[start] = label;
      stack.push(start);
      while (stack.length) {
        const p = stack.pop();
        size++;
        const y = Math.floor(p / width);
        const x = p - y * width;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const ny = y + dy;
            const nx = x + dx;
            if (ny < 0 || ny >= height || nx < 0 || nx >= width) continue;
            const q = ny * width + nx;
            if (mask[q] && !labels[q]) {
              labels[q] = label;
              stack.push(q);
            }
          }
        }
      }
      sizes.push(size);
    }
    return { labels, sizes };
  }

  /** images._crop_to_ink: cut to the strokes' bounding box, dropping specks, then thicken. */
  function cropToInk(img) {
    const { width, height, data } = img;
    const mask = data.map((v) => (v >= INK_THRESHOLD ? 1 : 0));
    const { labels, sizes } = labelBlobs(mask, width, height);
    if (sizes.length === 1) throw new NoDigitError("no digit found: no ink above the noise");
    const largest = Math.max(...sizes.slice(1));
    const kept = sizes.map((size, label) => label > 0 && size >= 0.1 * largest);
    let [top, bottom, left, right] = [height, -1, width, -1];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!kept[labels[y * width + x]]) continue;
        [top, bottom] = [Math.min(top, y), Math.max(bottom, y)];
        [left, right] = [Math.min(left, x), Math.max(right, x)];
      }
    }
    const cropped = image(right - left + 1, bottom - top + 1);
    for (let y = top; y <= bottom; y++) {
      for (let x = left; x <= right; x++) {
        const i = y * width + x;
        cropped.data[(y - top) * cropped.width + (x - left)] = kept[labels[i]] ? data[i] : 0;
      }
    }
    return thicken(cropped);
  }

  /** Squared distance along a line to the nearest zero of f (Felzenszwalb & Huttenlocher). */
  function distanceLine(f, n) {
    const d = new Float64Array(n);
    const v = new Int32Array(n);
    const z = new Float64Array(n + 1);
    const meet = (q, p) => (f[q] + q * q - (f[p] + p * p)) / (2 * q - 2 * p);
    let k = 0;
    [v[0], z[0], z[1]] = [0, -Infinity, Infinity];
    for (let q = 1; q < n; q++) {
      let s = meet(q, v[k]);
      while (s <= z[k]) s = meet(q, v[--k]);
      k++;
      [v[k], z[k], z[k + 1]] = [q, s, Infinity];
    }
    for (let q = 0, j = 0; q < n; q++) {
      while (z[j + 1] < q) j++;
      d[q] = (q - v[j]) * (q - v[j]) + f[v[j]];
    }
    return d;
  }

  const FAR = 1e20; // "no paper on this line": larger than any squared distance

  /** ndimage.distance_transform_edt: each ink pixel's distance to the nearest paper pixel. */
  function distanceToPaper(mask, width, height) {
    const squared = new Float64Array(width * height);
    if (!mask.includes(0)) {
      // SciPy with no background at all measures to a point just above the first pixel.
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) squared[y * width + x] = (y + 1) ** 2 + x ** 2;
      }
      return squared.map(Math.sqrt);
    }
    const column = new Float64Array(height);
    for (let x = 0; x < width; x++) {
      for (let y = 0; y < height; y++) column[y] = mask[y * width + x] ? FAR : 0;
      const d = distanceLine(column, height);
      for (let y = 0; y < height; y++) squared[y * width + x] = d[y];
    }
    for (let y = 0; y < height; y++) {
      const d = distanceLine(squared.subarray(y * width, (y + 1) * width), width);
      squared.set(d, y * width);
    }
    return squared.map(Math.sqrt);
  }

  /** np.percentile(values, q) with its default "linear" method. */
  function percentile(values, q) {
    const sorted = Float64Array.from(values).sort();
    const n = sorted.length;
    const virtual = n * q + (1 + q * -1) - 1;
    const below = Math.min(Math.max(Math.floor(virtual), 0), n - 1);
    const above = Math.min(below + 1, n - 1);
    const gamma = virtual - Math.floor(virtual);
    const [a, b] = [sorted[below], sorted[above]];
    const diff = b - a;
    return gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma;
  }

  /** images._thicken: widen strokes thinner than MNIST's. */
  function thicken(cropped) {
    const { width, height, data } = cropped;
    const mask = data.map((v) => (v >= 0.5 ? 1 : 0));
    if (!mask.includes(1)) return cropped;
    const distance = distanceToPaper(mask, width, height);
    const inside = distance.filter((_, i) => mask[i]);
    const strokeWidth = 2.0 * percentile(inside, 0.9);
    const target = (2.2 * Math.max(height, width)) / DIGIT_BOX;
    const grow = roundHalfEven(target - strokeWidth);
    if (grow < 1) return cropped;
    // np.pad by `grow`, then ndimage.grey_dilation(size=grow + 1): the maximum over a
    // (grow + 1)-square window reaching `after` pixels forwards and `before` backwards.
    const padded = image(width + 2 * grow, height + 2 * grow);
    for (let y = 0; y < height; y++) {
      padded.data.set(data.subarray(y * width, (y + 1) * width), (y + grow) * padded.width + grow);
    }
    const size = grow + 1;
    const [before, after] = [size - 1 - Math.floor(size / 2), Math.floor(size / 2)];
    return maxFilter(padded, before, after);
  }

  function maxFilter(img, before, after) {
    const { width, height, data } = img;
    const rows = image(width, height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let m = 0; // outside the picture is padding: 0
        for (let d = -before; d <= after; d++) {
          const xx = x + d;
          if (xx >= 0 && xx < width) m = Math.max(m, data[y * width + xx]);
        }
        rows.data[y * width + x] = m;
      }
    }
    const out = image(width, height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let m = 0;
        for (let d = -before; d <= after; d++) {
          const yy = y + d;
          if (yy >= 0 && yy < height) m = Math.max(m, rows.data[yy * width + x]);
        }
        out.data[y * width + x] = m;
      }
    }
    return out;
  }

  // Pillow's resampling filters (src/libImaging/Resample.c).
  const BOX = { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) };
  const sinc = (x) => (x === 0.0 ? 1.0 : Math.sin(x * Math.PI) / (x * Math.PI));
  const LANCZOS = { support: 3.0, weight: (x) => (-3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0) };

  /** Pillow's precompute_coeffs: for each output pixel, its first source pixel and weights. */
  function coefficients(inSize, outSize, filter) {
    const scale = inSize / outSize;
    const filterScale = Math.max(scale, 1.0);
    const support = filter.support * filterScale;
    const result = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      const ss = 1.0 / filterScale;
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      const weights = [];
      let total = 0.0;
      for (let x = 0; x < xmax; x++) {
        const w = filter.weight((x + xmin - center + 0.5) * ss);
        weights.push(w);
        total += w;
      }
      result.push({ start: xmin, weights: total !== 0.0 ? weights.map((w) => w / total) : weights });
    }
    return result;
  }

  /** Image.resize on a mode "F" image: a horizontal pass, then a vertical one, in float32. */
  function resize(img, outWidth, outHeight, filter) {
    let current = img;
    if (outWidth !== img.width) {
      const coeffs = coefficients(img.width, outWidth, filter);
      const out = image(outWidth, img.height);
      for (let y = 0; y < img.height; y++) {
        for (let x = 0; x < outWidth; x++) {
          const { start, weights } = coeffs[x];
          let sum = 0.0;
          for (let k = 0; k < weights.length; k++) {
            sum += current.data[y * img.width + start + k] * weights[k];
          }
          out.data[y * outWidth + x] = sum;
        }
      }
      current = out;
    }
    if (outHeight !== img.height) {
      const coeffs = coefficients(img.height, outHeight, filter);
      const out = image(outWidth, outHeight);
      for (let y = 0; y < outHeight; y++) {
        const { start, weights } = coeffs[y];
        for (let x = 0; x < outWidth; x++) {
          let sum = 0.0;
          for (let k = 0; k < weights.length; k++) {
            sum += current.data[(start + k) * outWidth + x] * weights[k];
          }
          out.data[y * outWidth + x] = sum;
        }
      }
      current = out;
    }
    return current;
  }

  /** images._scale_to_box: longer side 20 pixels, anti-aliased. */
  function scaleToBox(cropped) {
    const { width, height } = cropped;
    const scale = DIGIT_BOX / Math.max(height, width);
    const outWidth = Math.max(1, roundHalfEven(width * scale));
    const outHeight = Math.max(1, roundHalfEven(height * scale));
    const scaled = resize(cropped, outWidth, outHeight, scale < 1 ? BOX : LANCZOS);
    return image(outWidth, outHeight, scaled.data.map((v) => Math.min(1, Math.max(0, v))));
  }

  /** images._centre_by_mass: 28x28 with the centre of mass (SciPy's) in the middle. */
  function centreByMass(scaled) {
    const { width, height, data } = scaled;
    const field = new Float32Array(FIELD * FIELD);
    const [top, left] = [Math.floor((FIELD - height) / 2), Math.floor((FIELD - width) / 2)];
    for (let y = 0; y < height; y++) {
      field.set(data.subarray(y * width, (y + 1) * width), (y + top) * FIELD + left);
    }
    const total = pairwiseSum(field, 1, field.length - 1, f32) + field[0];
    const byRow = Float64Array.from(field, (v, i) => v * Math.floor(i / FIELD));
    const byCol = Float64Array.from(field, (v, i) => v * (i % FIELD));
    const row = (pairwiseSum(byRow, 1, byRow.length - 1, identity) + byRow[0]) / f32(total);
    const col = (pairwiseSum(byCol, 1, byCol.length - 1, identity) + byCol[0]) / f32(total);
    const clip = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
    const shiftRows = clip(roundHalfEven(FIELD / 2 - row), -top, FIELD - height - top);
    const shiftCols = clip(roundHalfEven(FIELD / 2 - col), -left, FIELD - width - left);
    const centred = new Float32Array(FIELD * FIELD);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const [ny, nx] = [y + top + shiftRows, x + left + shiftCols];
        centred[ny * FIELD + nx] = data[y * width + x];
      }
    }
    return centred;
  }

  /** images.preprocess: every step kept, as in Python's Steps. */
  function preprocess(gray) {
    const inked = ink(gray);
    const cropped = cropToInk(inked);
    const scaled = scaleToBox(cropped);
    return { gray, ink: inked, cropped, scaled, centred: centreByMass(scaled) };
  }

  return { FIELD, NoDigitError, grayFromRGBA, image, preprocess };
});
