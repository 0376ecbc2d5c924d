// The ocrkit web page: send an image (file, drop, paste or address) to POST /predict and show the answer.
// Plain JavaScript, no build step, no external resources.
"use strict";

(function () {
  const RAW_TYPES = ["image/png", "image/jpeg"];
  const LOW_CONFIDENCE = 0.5;

  // The gateway's error codes, in plain words. The server's own message is shown below as detail.
  const MESSAGES = {
    bad_request: "The request could not be read. Reload the page and try again.",
    request_timeout: "The upload took too long. Check the connection and try again.",
    uri_too_long: "The request could not be read. Reload the page and try again.",
    headers_too_large: "The request could not be read. Reload the page and try again.",
    not_implemented: "The request could not be read. Reload the page and try again.",
    empty_body: "The file is empty. Choose a picture of handwritten text.",
    bad_json: "The request could not be read. Reload the page and try again.",
    bad_base64: "The request could not be read. Reload the page and try again.",
    missing_field: "The request could not be read. Reload the page and try again.",
    invalid_field: "The request could not be read. Reload the page and try again.",
    not_an_image: "That file is not an image. Choose a PNG or JPEG picture of handwritten text.",
    truncated_image: "The image file is cut short. Save it again and retry.",
    undecodable_image: "The image could not be decoded. Save it as PNG or JPEG and retry.",
    not_found: "The page could not find the recognition service at this address.",
    method_not_allowed: "The page could not use the recognition service at this address.",
    request_too_large: "The file is too large. Crop the image to the line of text and retry.",
    image_too_large: "The image is too large. Crop it to the line of text, or save it smaller, and retry.",
    image_too_many_pixels: "The image has too many pixels. Crop it to the line of text and retry.",
    batch_too_large: "Too many images in one request.",
    request_too_many_pixels: "The images are too large together. Send fewer at a time, or crop them.",
    unsupported_media_type: "This kind of file is not accepted. Use a PNG or JPEG image.",
    unsupported_image_format: "This image format is not supported. Save it as PNG or JPEG and retry.",
    url_refused: "That address cannot be used. Give a public https:// link to an image.",
    url_fetch_failed: "The image at that address could not be downloaded.",
    url_timeout: "Downloading the image from that address took too long.",
    internal_error: "Something went wrong on the server. Try again; if it keeps happening, look at the server log.",
    backend_failed: "The model failed on this image. Try again, or try another image.",
    model_not_ready: "The model is still loading. Try again in a few seconds.",
    backend_timeout: "The model took too long to answer. Try again in a moment.",
    overloaded: "The server is busy with other requests. Try again in a moment.",
  };

  const $ = (id) => document.getElementById(id);
  const els = {
    drop: $("drop"),
    file: $("file"),
    urlForm: $("url-form"),
    url: $("url"),
    result: $("result"),
    preview: $("preview"),
    source: $("source"),
    busy: $("busy"),
    answer: $("answer"),
    text: $("text"),
    low: $("low"),
    confidence: $("confidence"),
    time: $("time"),
    model: $("model"),
    error: $("error"),
    errorText: $("error-text"),
    errorDetail: $("error-detail"),
    curl: $("curl"),
    samplesBox: $("samples-box"),
    samples: $("samples"),
    expected: $("expected"),
  };
  let expectedText = null; // the true text of a shipped sample, shown beside the answer
  let previewUrl = null;
  let generation = 0;

  els.curl.textContent =
    "curl --location " + window.location.origin + "/predict --header 'Content-Type: image/png' --data-binary '@line.png'";

  function show(el, visible) {
    el.hidden = !visible;
  }

  function setPreview(src, caption) {
    if (previewUrl) {
      URL.revokeObjectURL(previewUrl);
      previewUrl = null;
    }
    if (src && src.startsWith("blob:")) previewUrl = src;
    els.preview.hidden = !src;
    if (src) els.preview.src = src;
    else els.preview.removeAttribute("src");
    els.source.textContent = caption || "";
  }

  function startWaiting() {
    show(els.result, true);
    show(els.busy, true);
    show(els.answer, false);
    show(els.error, false);
    els.result.setAttribute("aria-busy", "true");
  }

  function showAnswer(doc, elapsedMs) {
    show(els.busy, false);
    show(els.error, false);
    els.result.setAttribute("aria-busy", "false");
    const text = typeof doc.text === "string" ? doc.text : "";
    els.text.textContent = text === "" ? "(no text recognised)" : text;
    els.text.classList.toggle("empty", text === "");
    const confidence = Number(doc.confidence);
    els.confidence.textContent = Number.isFinite(confidence) ? (confidence * 100).toFixed(1) + " %" : "—";
    show(els.low, Number.isFinite(confidence) && confidence < LOW_CONFIDENCE && text !== "");
    let time = Math.round(elapsedMs) + " ms";
    if (Number.isFinite(Number(doc.latency_ms))) {
      time += " (server: " + Math.round(Number(doc.latency_ms)) + " ms)";
    }
    els.time.textContent = time;
    els.model.textContent = doc.model || "—";
    els.expected.textContent = expectedText === null ? "" : "Written on the sample: " + expectedText;
    show(els.expected, expectedText !== null);
    show(els.answer, true);
    document.body.dataset.state = "answered";
  }

  function showError(sentence, detail) {
    show(els.busy, false);
    show(els.answer, false);
    els.result.setAttribute("aria-busy", "false");
    els.errorText.textContent = sentence;
    els.errorDetail.textContent = detail ? "Details: " + detail : "";
    show(els.error, true);
    show(els.result, true);
    document.body.dataset.state = "error";
  }

  function describeFailure(status, doc) {
    const err = doc && doc.error;
    const code = err && err.code;
    const detail = err && typeof err.message === "string" ? err.message : "";
    if (code && MESSAGES[code]) return [MESSAGES[code], detail];
    if (status === 503) return [MESSAGES.overloaded, detail];
    if (status === 413) return [MESSAGES.image_too_large, detail];
    if (status >= 500) return [MESSAGES.internal_error, detail || "HTTP " + status];
    return ["The server refused this request.", detail || "HTTP " + status];
  }

  async function send(body, contentType) {
    const mine = ++generation;
    startWaiting();
    const started = performance.now();
    let response;
    try {
      response = await fetch("/predict", {
        method: "POST",
        headers: { "Content-Type": contentType, Accept: "application/json" },
        body: body,
      });
    } catch (exc) {
      if (mine === generation) {
        showError("The server could not be reached. Is ocrkit still running?", String(exc && exc.message ? exc.message : exc));
      }
      return;
    }
    let doc = null;
    try {
      doc = await response.json();
    } catch (exc) {
      doc = null;
    }
    if (mine !== generation) return; // a newer image was sent meanwhile
    const elapsed = performance.now() - started;
    if (response.ok && doc && typeof doc === "object" && "text" in doc) {
      showAnswer(doc, elapsed);
    } else {
      const [sentence, detail] = describeFailure(response.status, doc);
      showError(sentence, detail);
    }
  }

  function sendFile(file) {
    if (!file) return;
    expectedText = null;
    const type = RAW_TYPES.includes(file.type) ? file.type : file.type.startsWith("image/") ? file.type : "application/octet-stream";
    setPreview(URL.createObjectURL(file), file.name + " · " + formatBytes(file.size));
    send(file, type);
  }

  function sendUrl(address) {
    const url = address.trim();
    if (!url) {
      showError("Type or paste the address of an image first.", "");
      return;
    }
    if (!/^https?:\/\//i.test(url)) {
      showError("That is not a web address. It should start with https://", "");
      return;
    }
    expectedText = null;
    setPreview(url, url);
    send(JSON.stringify({ url: url }), "application/json");
  }

  async function sendSample(sample) {
    let blob;
    try {
      const response = await fetch(sample.url);
      if (!response.ok) throw new Error("HTTP " + response.status);
      blob = await response.blob();
    } catch (exc) {
      showError("The sample image could not be loaded.", String(exc && exc.message ? exc.message : exc));
      return;
    }
    expectedText = sample.label;
    setPreview(URL.createObjectURL(blob), sample.name + " · " + formatBytes(blob.size));
    send(blob, blob.type === "image/png" ? "image/png" : "image/jpeg");
  }

  async function listSamples() {
    let samples = [];
    try {
      const response = await fetch("/samples.json");
      samples = response.ok ? await response.json() : [];
    } catch (exc) {
      samples = [];
    }
    if (!Array.isArray(samples) || samples.length === 0) return;
    for (const sample of samples) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sample";
      button.dataset.name = sample.name;
      button.title = "Read " + sample.name;
      const img = document.createElement("img");
      img.src = sample.url;
      img.alt = "Sample " + sample.name;
      button.appendChild(img);
      button.addEventListener("click", () => sendSample(sample));
      els.samples.appendChild(button);
    }
    show(els.samplesBox, true);
  }

  function formatBytes(n) {
    if (n < 1024) return n + " bytes";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  els.preview.addEventListener("error", () => {
    els.preview.hidden = true;
  });
  els.file.addEventListener("change", () => {
    sendFile(els.file.files && els.file.files[0]);
  });
  els.urlForm.addEventListener("submit", (event) => {
    event.preventDefault();
    sendUrl(els.url.value);
  });
  els.drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      els.file.click();
    }
  });
  ["dragenter", "dragover"].forEach((name) =>
    els.drop.addEventListener(name, (event) => {
      event.preventDefault();
      els.drop.classList.add("over");
    }),
  );
  ["dragleave", "drop"].forEach((name) =>
    els.drop.addEventListener(name, () => els.drop.classList.remove("over")),
  );
  els.drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const dt = event.dataTransfer;
    if (dt && dt.files && dt.files.length) {
      sendFile(dt.files[0]);
    } else if (dt) {
      const text = dt.getData("text/uri-list") || dt.getData("text/plain");
      if (text) {
        els.url.value = text.split("\n")[0];
        sendUrl(els.url.value);
      }
    }
  });
  // Keep a file dropped outside the box from replacing the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  document.addEventListener("paste", (event) => {
    if (event.target === els.url) return;
    const items = (event.clipboardData && event.clipboardData.files) || [];
    if (items.length) {
      event.preventDefault();
      sendFile(items[0]);
    }
  });
  listSamples().finally(() => {
    document.body.dataset.state = "ready";
  });
})();
