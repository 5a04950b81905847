package local

import (
	"context"
	"fmt"

	"github.com/podsleuth/podsleuth/sandbox"
)

func (l *Local) preflightContainer(ctx context.Context, r sandbox.Request, p *prepared) error {
	return fmt.Errorf("%w: container archives: TODO", sandbox.ErrPreflight)
}

func (l *Local) restoreContainer(ctx context.Context, r sandbox.Request, p *prepared, info *sandbox.Info, ls *localState, undo *cleanup) error {
	return fmt.Errorf("%w: container archives: TODO", sandbox.ErrRestore)
}

func (l *Local) destroyContainer(ctx context.Context, info *sandbox.Info, ls *localState) error {
	return nil
}
