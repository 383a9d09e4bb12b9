//! heatscope: a GPU workbench for deciding, image by image, whether a small CNN or a large
//! vision-language model can be trusted on spectrum heatmaps, remote-sensing tiles and radio images.
//!
//! Modules, from the bottom up (imports point down this list, never up): `types` (plain data), `io`
//! (files -> rasters), `sim` (SpectrumQA-sim scenes and questions), `stats` (display statistics),
//! `eval` (SpectrumQA-sim scoring and baselines), `fuzz` (mutants through the loaders), `models` (candle; device choice), `backend` (VLM answers: local engine, OpenAI-compatible
//! client and server), `workers`
//! (background jobs), `render` (wgpu; only `render::callback` knows egui), `app` (egui panels),
//! `cli` (headless commands; never imports `app`). See ARCHITECTURE.md.

pub mod app;
pub mod backend;
pub mod cli;
pub mod eval;
pub mod fuzz;
pub mod io;
pub mod models;
pub mod render;
pub mod sim;
pub mod stats;
pub mod types;
pub mod workers;
