package service

import "github.com/startos-go/startos/startos/model"

// The functions here are StartOS's desired-state table (control.rs): RPCs
// change only statusInfo.desired, and the actor drives the engine to match.

func restarting(again bool) model.DesiredStatus {
	return model.DesiredStatus{Main: model.DesiredRestarting, RestartAgain: &again}
}

func restartAgain(d model.DesiredStatus) bool { return d.RestartAgain != nil && *d.RestartAgain }

// desiredOnStart is the desired state after package.start.
func desiredOnStart(d model.DesiredStatus) model.DesiredStatus {
	switch d.Main {
	case model.DesiredRestarting:
		return restarting(restartAgain(d))
	case model.DesiredBackingUp:
		return model.DesiredStatus{Main: model.DesiredBackingUp, OnComplete: "start"}
	}
	return model.DesiredStatus{Main: model.DesiredRunning}
}

// desiredOnStop is the desired state after package.stop.
func desiredOnStop(d model.DesiredStatus) model.DesiredStatus {
	if d.Main == model.DesiredBackingUp {
		return model.DesiredStatus{Main: model.DesiredBackingUp, OnComplete: "stop"}
	}
	return model.DesiredStatus{Main: model.DesiredStopped}
}

// desiredOnRestart is the desired state after package.restart; started
// says whether the main process is up.
func desiredOnRestart(d model.DesiredStatus, started bool) model.DesiredStatus {
	switch d.Main {
	case model.DesiredRunning:
		return restarting(false)
	case model.DesiredRestarting:
		if !started {
			return restarting(true)
		}
		return restarting(restartAgain(d))
	case model.DesiredBackingUp:
		return d
	}
	return model.DesiredStatus{Main: model.DesiredStopped}
}

// desiredOnBackup is the desired state when a backup begins.
func desiredOnBackup(d model.DesiredStatus) model.DesiredStatus {
	switch d.Main {
	case model.DesiredStopped:
		return model.DesiredStatus{Main: model.DesiredBackingUp, OnComplete: "stop"}
	case model.DesiredBackingUp:
		return d
	}
	return model.DesiredStatus{Main: model.DesiredBackingUp, OnComplete: "start"}
}

// desiredOnStarted is the desired state once the runtime reports the main
// process up: a restart cycles again or is done.
func desiredOnStarted(d model.DesiredStatus) model.DesiredStatus {
	if d.Main != model.DesiredRestarting {
		return d
	}
	if restartAgain(d) {
		return restarting(false)
	}
	return model.DesiredStatus{Main: model.DesiredRunning}
}

// desiredOnBoot is the desired state when the daemon starts: interrupted
// backups resolve to what they would have done, restarts become running.
func desiredOnBoot(d model.DesiredStatus) model.DesiredStatus {
	switch d.Main {
	case model.DesiredBackingUp:
		if d.OnComplete == "start" {
			return model.DesiredStatus{Main: model.DesiredRunning}
		}
		return model.DesiredStatus{Main: model.DesiredStopped}
	case model.DesiredRestarting, model.DesiredRunning:
		return model.DesiredStatus{Main: model.DesiredRunning}
	}
	return model.DesiredStatus{Main: model.DesiredStopped}
}

// wantsStop says whether the main container must be stopped: desired is
// stopped or backing up, or a restart is due and the process is up.
func wantsStop(d model.DesiredStatus, started bool) bool {
	switch d.Main {
	case model.DesiredStopped, model.DesiredBackingUp:
		return true
	case model.DesiredRestarting:
		return started
	}
	return false
}

// wantsRun says whether the main container must run.
func wantsRun(d model.DesiredStatus, started bool) bool {
	return !wantsStop(d, started) && (d.Main == model.DesiredRunning || d.Main == model.DesiredRestarting)
}
