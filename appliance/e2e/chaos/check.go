package chaos

import (
	"errors"
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// Sentinel errors of the checkers.
var (
	// ErrCheckTimeout means porcupine neither found a linearization nor
	// proved there is none before the timeout. It is not a pass: a history
	// too large to check proves nothing.
	ErrCheckTimeout = errors.New("linearizability check timed out")
	// ErrMalformedHistory means an operation is not one this package
	// records: its Input is not an Input or its Output not an Outcome.
	ErrMalformedHistory = errors.New("malformed history")
	// ErrNoFinalState means CheckLostWrites got no node's key set.
	ErrNoFinalState = errors.New("no final state")
)

// Check reports whether history is linearizable under [Model].
//
// The returned info feeds [Visualize] whatever the verdict, timeouts
// included; on a violation it holds the longest partial linearizations
// porcupine found, which is where to start reading. Check returns [ErrCheckTimeout] if porcupine cannot decide
// within timeout (0 means no limit) and [ErrMalformedHistory] if an operation
// was not recorded by this package.
func Check(history []porcupine.Operation, timeout time.Duration) (bool, porcupine.LinearizationInfo, error) {
	if err := validate(history); err != nil {
		return false, porcupine.LinearizationInfo{}, err
	}
	return checkWith(Model, history, timeout)
}

// checkWith is Check with the model as a parameter, so that a test can make
// porcupine time out on purpose.
func checkWith(model porcupine.Model, history []porcupine.Operation, timeout time.Duration) (bool, porcupine.LinearizationInfo, error) {
	res, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	switch res {
	case porcupine.Ok:
		return true, info, nil
	case porcupine.Illegal:
		return false, info, nil
	default:
		return false, info, fmt.Errorf("check %d operations within %v: %w", len(history), timeout, ErrCheckTimeout)
	}
}

// validate rejects operations this package did not record, which [Model]
// would otherwise report as violations that are really test bugs.
func validate(history []porcupine.Operation) error {
	var errs []error
	for i, op := range history {
		in, okI := op.Input.(Input)
		out, okO := op.Output.(Outcome)
		switch {
		case !okI || !okO:
			errs = append(errs, fmt.Errorf("operation %d: input %T, output %T: %w", i, op.Input, op.Output, ErrMalformedHistory))
		case in.Kind < 0 || in.Kind >= numOpKinds || out < 0 || out >= numOutcomes:
			errs = append(errs, fmt.Errorf("operation %d: %v -> %v: %w", i, in.Kind, out, ErrMalformedHistory))
		case op.Return < op.Call:
			errs = append(errs, fmt.Errorf("operation %d: returns at %d before its call at %d: %w", i, op.Return, op.Call, ErrMalformedHistory))
		}
	}
	return errors.Join(errs...)
}

// Visualize writes porcupine's interactive HTML view of a checked history to
// path, with notes (typically [History.Annotations]: when which node was
// down) drawn alongside the clients. Write it when [Check] fails and print
// the path; it shows, per key, how far a linearization got and which
// operation could not be placed.
func Visualize(path string, info porcupine.LinearizationInfo, notes []porcupine.Annotation) error {
	info.AddAnnotations(notes)
	if err := porcupine.VisualizePath(Model, info, path); err != nil {
		return fmt.Errorf("write linearizability visualisation %s: %w", path, err)
	}
	return nil
}
