package main

import (
	"context"
	"fmt"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	"os"
	"syscall"
	"time"
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func impliedType(spec hcldec.Spec) cty.Type {
	if spec == nil {
		return cty.DynamicPseudoType
	}
	return hcldec.ImpliedType(spec)
}

func mkfifo(path string) error {
	return syscall.Mkfifo(path, 0o644)
}

// releaseFifo opens a FIFO for writing and closes it, so a reader blocked on it sees EOF.
func releaseFifo(path string) error {
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			err = f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("nobody opened %s for reading within 10 s", path)
	}
}
