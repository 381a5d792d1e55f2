//go:build !unix

package capture

import "os"

func mapFile(*os.File) ([]byte, func(), func([]byte)) { return nil, nil, nil }
