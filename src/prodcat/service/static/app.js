// The page at "/": sends the title and description to /v1/categorize and draws the answer.
// Plain JavaScript, no libraries, nothing loaded from outside this server.
"use strict";

const $ = (id) => document.getElementById(id);
const PATH_SEPARATOR = " > ";  // how prodcat joins the levels of a category path

const KEY_STORAGE = "prodcat-api-key";  // sessionStorage: this tab only

let levelThresholds = null;  // per tree level, from /v1/model (models of category paths only)

function percent(value) {
  return (100 * value).toFixed(1) + "%";
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// fetch for the /v1 API, with the API key when one was given; a 401 makes the page ask for a key.
async function apiFetch(path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const headers = { ...(options.headers || {}), ...(key ? { Authorization: `Bearer ${key}` } : {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    $("key-form").hidden = false;
    $("api-key").focus();
  }
  return response;
}

function useKey(event) {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  $("api-key").value = "";
  $("key-form").hidden = true;
  clearError();
  loadModel();
}

async function loadModel() {
  try {
    const response = await apiFetch("/v1/model");
    const model = await response.json();
    if (!response.ok) throw new Error(model.detail || response.statusText);
    levelThresholds = model.level_thresholds || null;
    const threshold = levelThresholds
      ? "per level " + levelThresholds.map(percent).join(" / ")
      : model.threshold == null ? "none" : percent(model.threshold);
    $("model").textContent =
      `Model ${model.name || "(unnamed)"} · ${model.family} · ${model.labels.length} categories · review below ${threshold}`;
    $("labels").replaceChildren(...model.labels.map((label) => {
      const item = document.createElement("li");
      item.textContent = label;
      return item;
    }));
  } catch (error) {
    $("model").textContent = "The model description is not available: " + error.message;
  }
}

function categoryRow(score, isBest) {
  const row = document.createElement("li");
  row.className = "category" + (isBest ? " best" : "");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = score.category;
  const bar = document.createElement("span");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.className = "fill";
  fill.style.width = percent(score.confidence);
  bar.append(fill);
  const value = document.createElement("span");
  value.className = "value";
  value.textContent = percent(score.confidence);
  row.append(name, bar, value);
  return row;
}

// One row per level of the decoded path: the node, its confidence, and whether the prediction
// stopped above it (backed off) because that level's confidence is below its threshold.
function levelRow(prefix, confidence, level, depth) {
  const name = prefix.split(PATH_SEPARATOR).pop();
  const row = categoryRow({ category: `${level + 1}. ${name}`, confidence }, level === Math.max(depth, 1) - 1);
  row.title = prefix;
  if (level >= depth) {
    row.style.opacity = "0.55";
    const threshold = levelThresholds && levelThresholds[level] != null ? ` (threshold ${percent(levelThresholds[level])})` : "";
    row.querySelector(".name").textContent += " · backed off" + threshold;
  }
  return row;
}

function pathBlock(result) {
  const block = document.createElement("div");
  block.id = "path";
  const heading = document.createElement("h3");
  heading.textContent = "Category path";
  const levels = document.createElement("ol");
  levels.className = "levels";
  levels.style.cssText = "list-style: none; padding: 0; display: grid; gap: 0.5rem;";
  levels.replaceChildren(...result.path.map((prefix, level) => levelRow(prefix, result.path_confidence[level], level, result.depth)));
  const ranked = document.createElement("h3");
  ranked.textContent = "Most probable full paths";
  block.append(heading, levels, ranked);
  return block;
}

function reviewText(result) {
  if (!result.path) return "Needs review: the confidence is below the model's review threshold";
  if (result.depth === 0) return "Needs review: not even the top level is confident enough";
  return `Needs review: confident down to level ${result.depth} of ${result.path.length}; backed off below it`;
}

// The words and n-grams for the category (+) and for the runner-up (-), strongest first.
function showExplanation(explanation) {
  const box = $("explanation");
  box.hidden = !explanation;
  if (!explanation) return;
  $("explanation-title").textContent = `Why ${explanation.category}, not ${explanation.runner_up}`;
  $("explanation-method").textContent = explanation.method === "linear"
    ? `Exact contributions to the decision value of ${explanation.category} minus ${explanation.runner_up}.`
    : `How much the probability of ${explanation.category} minus ${explanation.runner_up} drops without each word.`;
  const terms = explanation.supporting.concat(explanation.opposing);
  $("explanation-terms").replaceChildren(...terms.map((item) => {
    const row = document.createElement("li");
    row.className = "term " + (item.contribution > 0 ? "for" : "against");
    const sign = item.contribution > 0 ? "+" : "";
    row.textContent = `${item.term} ${sign}${item.contribution.toFixed(3)}`;
    return row;
  }));
}

function showResult(result) {
  const review = $("review");
  if (result.category === null) {
    review.textContent = "No category: " + result.reason;
    review.className = "badge review";
  } else if (result.needs_review) {
    review.textContent = reviewText(result);
    review.className = "badge review";
  } else {
    review.textContent = "Automatic: confident enough to skip review";
    review.className = "badge auto";
  }
  const previous = $("path");
  if (previous) previous.remove();
  if (result.path && result.path.length) $("categories").before(pathBlock(result));
  $("categories").replaceChildren(...result.top_k.map((score, i) => categoryRow(score, i === 0)));
  showExplanation(result.explanation || null);
  $("result").hidden = false;
}

async function categorize(event) {
  event.preventDefault();
  clearError();
  const button = $("categorize");
  button.disabled = true;
  try {
    const body = {
      items: [{ id: "page", title: $("title").value, description: $("description").value }],
      top_k: Number($("top-k").value),
      explain: $("explain").checked,
    };
    const response = await apiFetch("/v1/categorize", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || response.statusText);
    showResult(answer.items[0]);
  } catch (error) {
    $("result").hidden = true;
    showError("Could not categorize: " + error.message);
  } finally {
    button.disabled = false;
  }
}

$("product-form").addEventListener("submit", categorize);
$("key-form").addEventListener("submit", useKey);
loadModel();
