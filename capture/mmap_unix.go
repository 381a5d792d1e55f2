//go:build unix

package capture

import (
	"os"
	"syscall"
)

// mapFile maps a plain capture file read-only, so records are read in place
// with no copy from the page cache (the read path copies every byte once).
// It returns nil when the file cannot be mapped (a pipe, an empty file).
// release gives pages already read back to the kernel.
func mapFile(f *os.File) (mem []byte, unmap func(), release func([]byte)) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() <= 0 || st.Size() > 1<<40 {
		return nil, nil, nil
	}
	mem, err = syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, nil
	}
	syscall.Madvise(mem, syscall.MADV_SEQUENTIAL)
	release = func(b []byte) {
		if len(b) > 0 {
			syscall.Madvise(b, syscall.MADV_DONTNEED) // clean file pages: dropped, reread if touched
		}
	}
	return mem, func() { syscall.Munmap(mem) }, release
}
