//! Checking a project again after some of its files changed, reusing what did not change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pipec_diag::{codes, Diagnostic, FileId, SourceMap, Span};
use pipec_syntax::ast::{self, Item};

use crate::{
    ir, par_map, pipeline, read_tables, report_import_cycles, resolve_import, table_key,
    written_tables, Checked, Loader, Project, TableSchema, Unit, World,
};

/// A checker that keeps every file's parse and check results between runs, so that after a
/// change it re-parses only the changed files and re-checks only the root files whose inputs
/// changed: the file itself, the files importing a changed file (transitively), and the files
/// reading (`table(...)`) a table whose writer's result changed. The project-wide passes
/// (duplicate names, unknown `after`, intervals of `after` pipelines, ...) are redone each time.
/// [`Session::checked`] is always what [`check`](crate::check) returns for the same input.
#[derive(Default)]
pub struct Session {
    /// Every file reachable from the roots, parsed, with its imports resolved.
    units: HashMap<FileId, Unit>,
    /// Diagnostics of parsing each unit and resolving its imports.
    unit_diags: HashMap<FileId, Vec<Diagnostic>>,
    /// The tables each unit reads (`table(...)`) and writes (sinks), keys as [`table_key`].
    unit_tables: HashMap<FileId, (Vec<String>, Vec<String>)>,
    /// Units with an import that resolved to no file (resolved again when a file is added).
    missing_imports: HashSet<FileId>,
    /// The result of checking each root file.
    files: HashMap<FileId, FileCheck>,
    /// The root file of each pipeline in `checked.project.pipelines`, by index.
    lent: Vec<FileId>,
    /// Diagnostics found outside the checker, merged into each result.
    extra: Vec<Diagnostic>,
    checked: Checked,
}

/// One root file's check result and the inputs it was computed from.
struct FileCheck {
    /// The file's pipeline; `None` while it is lent to the checked project (or has none).
    pipeline: Option<ir::Pipeline>,
    /// The pipeline's interval rule as checked (the project passes change `after` pipelines').
    interval: Option<ir::IntervalRule>,
    afters: Vec<ast::Ident>,
    diags: Vec<Diagnostic>,
    /// For each table the file reads: what the checker knew of it.
    inputs: Vec<TableInput>,
    /// For each table the file writes: its schema as the file's sink produced it.
    produced: Vec<(String, Option<Arc<TableSchema>>)>,
}

/// What the checker knew of a table a file reads: the writing sink's schema (`Some(None)` when
/// that sink did not check), and whether any root writes it.
type TableInput = (Option<Option<Arc<TableSchema>>>, bool);

/// What one [`Session::update`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// Files parsed (changed files, files whose imports were resolved again, new imports).
    pub parsed: usize,
    /// Root files checked (the others' results were reused), in root order.
    pub checked: Vec<FileId>,
}

impl Session {
    /// A session that has checked nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the project made of `roots` (files in `sources`), after the files `changed` were
    /// added, edited or removed (with [`SourceMap::remove`]) since the last update. Imports are
    /// parsed and added to `sources` as they are found, as by [`check`](crate::check).
    pub fn update(
        &mut self,
        sources: &mut SourceMap,
        roots: &[FileId],
        changed: &[FileId],
        loader: &dyn Loader,
    ) -> Update {
        self.take_back_pipelines();
        self.invalidate(sources, changed);
        let (order, parsed) = self.parse(sources, roots, loader);

        let mut dirty: HashSet<FileId> = changed.iter().chain(&parsed).copied().collect();
        let mut importers: HashMap<FileId, Vec<FileId>> = HashMap::new();
        for f in &order {
            for (_, target, _) in &self.units[f].imports {
                importers.entry(*target).or_default().push(*f);
            }
        }
        let mut stack: Vec<FileId> = dirty.iter().copied().collect();
        while let Some(f) = stack.pop() {
            for &i in importers.get(&f).into_iter().flatten() {
                if dirty.insert(i) {
                    stack.push(i);
                }
            }
        }

        let mut diags = Vec::new();
        for f in &order {
            diags.extend(self.unit_diags[f].iter().cloned());
        }
        let mut canonical: Vec<FileId> = roots.to_vec();
        let root_set: HashSet<FileId> = roots.iter().copied().collect();
        let mut found: HashSet<FileId> = HashSet::new();
        for f in &order {
            for (_, target, _) in &self.units[f].imports {
                if !root_set.contains(target) && found.insert(*target) {
                    canonical.push(*target);
                }
            }
        }
        report_import_cycles(&self.units, &canonical, sources, &mut diags);
        self.files.retain(|f, _| root_set.contains(f));
        let checked = self.check_roots(sources, roots, &dirty);
        self.project_passes(roots, diags);
        if !self.extra.is_empty() {
            self.checked.diagnostics.extend(self.extra.iter().cloned());
            pipec_diag::sort(&mut self.checked.diagnostics);
        }
        Update {
            parsed: parsed.len(),
            checked,
        }
    }

    /// Diagnostics found outside the checker (such as `E0006` for a file that is not UTF-8),
    /// merged into the result from the next update on, as `pipec check` merges them.
    pub fn set_extra_diagnostics(&mut self, diags: Vec<Diagnostic>) {
        self.extra = diags;
    }

    /// The result of the last update.
    pub fn checked(&self) -> &Checked {
        &self.checked
    }

    /// The result of the last update, ending the session.
    pub fn into_checked(self) -> Checked {
        self.checked
    }

    /// The parsed AST of a file reachable from the roots at the last update.
    pub fn module(&self, file: FileId) -> Option<&ast::Module> {
        self.units.get(&file).map(|u| &u.module)
    }

    /// The files `file` imports, by namespace, as resolved at the last update.
    pub fn imports(&self, file: FileId) -> Vec<(&str, FileId)> {
        self.units
            .get(&file)
            .map(|u| u.imports.iter().map(|(n, f, _)| (n.as_str(), *f)).collect())
            .unwrap_or_default()
    }

    /// Returns the pipelines lent to the last result to the files that produced them.
    fn take_back_pipelines(&mut self) {
        let pipelines = std::mem::take(&mut self.checked.project.pipelines);
        self.checked.diagnostics.clear();
        for (mut p, f) in pipelines.into_iter().zip(std::mem::take(&mut self.lent)) {
            if let Some(fc) = self.files.get_mut(&f) {
                if let Some(interval) = &fc.interval {
                    p.interval = interval.clone();
                }
                fc.pipeline = Some(p);
            }
        }
    }

    /// Forgets the parse of changed files, of files importing a removed file, and (when a file
    /// was added) of files with an import that found no file.
    fn invalidate(&mut self, sources: &SourceMap, changed: &[FileId]) {
        let mut stale: HashSet<FileId> = changed.iter().copied().collect();
        let removed: HashSet<FileId> = changed
            .iter()
            .copied()
            .filter(|&c| sources.is_removed(c))
            .collect();
        if !removed.is_empty() {
            for (f, unit) in &self.units {
                if unit.imports.iter().any(|(_, t, _)| removed.contains(t)) {
                    stale.insert(*f);
                }
            }
        }
        if changed
            .iter()
            .any(|c| !removed.contains(c) && !self.units.contains_key(c))
        {
            stale.extend(self.missing_imports.iter().copied());
        }
        for f in &stale {
            self.units.remove(f);
            self.unit_diags.remove(f);
            self.unit_tables.remove(f);
            self.missing_imports.remove(f);
        }
    }

    /// Parses the files reachable from `roots` that have no unit yet (roots in parallel), in the
    /// order [`check`](crate::check) always visited them; drops units no longer reachable.
    /// Returns the reachable files in visiting order and the files parsed.
    fn parse(
        &mut self,
        sources: &mut SourceMap,
        roots: &[FileId],
        loader: &dyn Loader,
    ) -> (Vec<FileId>, Vec<FileId>) {
        let mut preparsed: HashMap<FileId, pipec_syntax::Parsed> = {
            let texts: Vec<(FileId, &str)> = roots
                .iter()
                .filter(|f| !self.units.contains_key(f))
                .map(|&f| (f, sources.get(f).text.as_str()))
                .collect();
            par_map(&texts, |&(f, t)| (f, pipec_syntax::parse(f, t)))
                .into_iter()
                .collect()
        };
        let mut order = Vec::new();
        let mut parsed = Vec::new();
        let mut seen = HashSet::new();
        let mut queue: Vec<FileId> = roots.to_vec();
        while let Some(file) = queue.pop() {
            if !seen.insert(file) {
                continue;
            }
            order.push(file);
            if !self.units.contains_key(&file) {
                let p = preparsed
                    .remove(&file)
                    .unwrap_or_else(|| pipec_syntax::parse(file, &sources.get(file).text));
                let syntax_errors = p.diagnostics.iter().any(Diagnostic::is_error);
                let mut diags = p.diagnostics;
                let mut imports = Vec::new();
                for item in &p.module.items {
                    let Item::Import(imp) = item else { continue };
                    let Some((ns, target)) = resolve_import(file, imp, sources, loader, &mut diags)
                    else {
                        self.missing_imports.insert(file);
                        continue;
                    };
                    if imports
                        .iter()
                        .any(|(n, _, _): &(String, FileId, Span)| *n == ns)
                    {
                        let span = imp.alias.as_ref().map(|a| a.span).unwrap_or(imp.span);
                        diags.push(
                            Diagnostic::error(
                                codes::DUPLICATE_NAME,
                                span,
                                format!("`{ns}` is imported twice"),
                                "second import of this name",
                            )
                            .with_help("give one of them another name with `as`"),
                        );
                        continue;
                    }
                    imports.push((ns, target, imp.span));
                }
                self.unit_tables
                    .insert(file, (read_tables(&p.module), written_tables(&p.module)));
                self.units.insert(
                    file,
                    Unit {
                        module: p.module,
                        broken: p.broken_names,
                        syntax_errors,
                        broken_pipeline: p.broken_pipeline,
                        imports,
                    },
                );
                self.unit_diags.insert(file, diags);

                parsed.push(file);
            }
            queue.extend(self.units[&file].imports.iter().map(|(_, t, _)| *t));
        }
        self.units.retain(|f, _| seen.contains(f));
        self.unit_diags.retain(|f, _| seen.contains(f));
        self.unit_tables.retain(|f, _| seen.contains(f));
        self.missing_imports.retain(|f| seen.contains(f));
        (order, parsed)
    }

    /// Checks the root files, in parallel, in levels: a file reading a table with `table(...)`
    /// is checked after the file whose sink writes it, so its source can take (or is compared
    /// with) that sink's schema. Where files read each other's tables, the first is checked
    /// without the others' schemas. A file neither `dirty` nor seeing different tables than at
    /// its last check keeps its result. Returns the files checked.
    fn check_roots(
        &mut self,
        sources: &SourceMap,
        roots: &[FileId],
        dirty: &HashSet<FileId>,
    ) -> Vec<FileId> {
        let units = &self.units;
        let files = &mut self.files;
        let none = (Vec::new(), Vec::new());
        let tables_of = |f: &FileId| self.unit_tables.get(f).unwrap_or(&none);
        let reads: Vec<&Vec<String>> = roots.iter().map(|f| &tables_of(f).0).collect();
        let writes: Vec<&Vec<String>> = roots.iter().map(|f| &tables_of(f).1).collect();
        let mut writers: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut written: HashSet<String> = HashSet::new();
        for (i, w) in writes.iter().enumerate() {
            for t in w.iter() {
                writers.entry(t.as_str()).or_default().push(i);
                written.insert(t.clone());
            }
        }
        let deps: Vec<Vec<usize>> = reads
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut d: Vec<usize> = r
                    .iter()
                    .flat_map(|t| writers.get(t.as_str()).cloned().unwrap_or_default())
                    .filter(|&w| w != i)
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        let mut tables: HashMap<String, Option<Arc<TableSchema>>> = HashMap::new();
        let mut done = vec![false; roots.len()];
        let mut left = roots.len();
        let mut checked = Vec::new();
        while left > 0 {
            let mut level: Vec<usize> = (0..roots.len())
                .filter(|&i| !done[i] && deps[i].iter().all(|&d| done[d]))
                .collect();
            if level.is_empty() {
                // A cycle through tables (the plan reports it): check the first file left alone,
                // which lets the others follow.
                level = (0..roots.len()).filter(|&i| !done[i]).take(1).collect();
            }
            let mut todo: Vec<(usize, Vec<TableInput>)> = Vec::new();
            for &i in &level {
                let inputs: Vec<TableInput> = reads[i]
                    .iter()
                    .map(|t| (tables.get(t).cloned(), written.contains(t)))
                    .collect();
                let keep = !dirty.contains(&roots[i])
                    && files.get(&roots[i]).is_some_and(|c| c.inputs == inputs);
                if !keep {
                    todo.push((i, inputs));
                }
            }
            let world = World {
                units,
                sources,
                tables: &tables,
                written: &written,
            };
            let results = par_map(&todo, |(i, _)| {
                let root = roots[*i];
                let mut file_diags = Vec::new();
                let result = units
                    .get(&root)
                    .and_then(|unit| pipeline::check_file(&world, root, unit, &mut file_diags));
                (result, file_diags)
            });
            checked.extend(todo.iter().map(|(i, _)| *i));
            for ((i, inputs), (result, diags)) in todo.into_iter().zip(results) {
                let (pipeline, afters) = match result {
                    Some((p, a)) => (Some(p), a),
                    None => (None, Vec::new()),
                };
                let produced = writes[i]
                    .iter()
                    .map(|t| {
                        let schema = pipeline.as_ref().and_then(|p| {
                            let sink = p.sinks.iter().find(|s| {
                                matches!(s.target, ir::SinkTarget::Table { .. })
                                    && table_key(&s.name()) == *t
                            })?;
                            Some(Arc::new(TableSchema {
                                schema: p.relation(&sink.relation)?.schema.clone(),
                                pipeline: p.name.clone(),
                                sink: sink.span,
                            }))
                        });
                        (t.clone(), schema)
                    })
                    .collect();
                files.insert(
                    roots[i],
                    FileCheck {
                        interval: pipeline.as_ref().map(|p| p.interval.clone()),
                        pipeline,
                        afters,
                        diags,
                        inputs,
                        produced,
                    },
                );
            }
            for &i in &level {
                done[i] = true;
                left -= 1;
                for (t, schema) in &files[&roots[i]].produced {
                    tables.entry(t.clone()).or_insert_with(|| schema.clone());
                }
            }
        }
        checked.sort_unstable();
        checked.into_iter().map(|i| roots[i]).collect()
    }

    /// Assembles the project from the files' results (in root order) and runs the project-wide
    /// checks; `diags` holds the parse and import diagnostics.
    fn project_passes(&mut self, roots: &[FileId], mut diags: Vec<Diagnostic>) {
        let mut project = Project::default();
        let mut pipeline_spans: HashMap<String, Span> = HashMap::new();
        let mut after_refs: Vec<(String, ast::Ident)> = Vec::new();
        for f in roots {
            let Some(fc) = self.files.get_mut(f) else {
                continue;
            };
            diags.extend(fc.diags.iter().cloned());
            let Some(p) = &fc.pipeline else { continue };
            if let Some(prev) = pipeline_spans.get(&p.name) {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NAME,
                        p.span,
                        format!("pipeline `{}` is declared twice", p.name),
                        "second declaration",
                    )
                    .with_label(*prev, "first declared here")
                    .with_help("pipeline names must be unique in a project"),
                );
                continue;
            }
            pipeline_spans.insert(p.name.clone(), p.span);
            after_refs.extend(fc.afters.iter().map(|a| (p.name.clone(), a.clone())));
            project.pipelines.extend(fc.pipeline.take());
            self.lent.push(*f);
        }
        crate::project_passes(&mut project, &after_refs, &mut diags);
        self.checked = Checked {
            project,
            diagnostics: diags,
        };
    }
}
