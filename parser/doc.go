// Package parser turns a Dockerfile into typed build steps with source
// locations.
//
// It wraps BuildKit's frontend/dockerfile/parser (the line parser, with
// heredocs, which are always enabled in BuildKit v0.34) and
// frontend/dockerfile/instructions (the typed commands) rather than
// re-implementing them, and adds what ibuild needs on top:
//
//   - every error is an *Error naming the Dockerfile and the line range
//     ("Dockerfile:7: unknown instruction: COPPY (did you mean COPY?)");
//   - checks docker makes before running any step but BuildKit's
//     instructions package leaves to its converter: duplicate stage names,
//     instructions before the first FROM, --chmod values, RUN --mount
//     options, ONBUILD triggers, COPY --from / --mount from= references to
//     later stages;
//   - parse-time warnings in the style of BuildKit's build checks.
//
// Stages and commands are BuildKit's own types (instructions.Stage and
// instructions.Command values), so the build package type-switches on
// *instructions.RunCommand, *instructions.CopyCommand and so on, and expands
// variables itself with a shell.Lex from NewLex (one per expansion: a Lex is
// not safe for concurrent use). A command's place in the file is
// LocationOf(d.Name, cmd.Location()), which build wraps in its errors as an
// *Error; d.CommandLocation and d.StageLocation are shorthands for it, and
// Errorf builds a located error. StageRef, StageChain and TargetChain
// resolve FROM <stage> and --from references; RewriteBase (compare --base)
// replaces the base image of a target's root stage.
//
// Values are kept as written, as BuildKit keeps them: ENV B="two words" has
// the value `"two words"` (quotes included) and COPY --chmod=$MODE keeps
// `$MODE`, until build expands them with shell.Lex.ProcessWordWithMatches.
// Values without variables are validated here (ParseChmod, RUN --mount);
// build validates the rest after expansion. RUN --mount options must be
// re-read with RunCommand.Expand(expander) before instructions.GetMounts.
//
// parser imports no other ibuild package.
package parser
