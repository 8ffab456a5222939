// Package s3test starts a real S3-compatible server for tests: s3rver (npm),
// an independent implementation of the S3 protocol on the file system.
// scripts/test.sh installs it and names its binary in S3RVER.
package s3test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/parley-chat/parley/blob"
)

// Start runs s3rver on a loopback port with one bucket, stopped by the
// test's cleanup, and returns how to reach it. Without S3RVER the test is
// skipped, except on CI, where it fails.
func Start(t *testing.T) blob.S3Options {
	t.Helper()
	bin := os.Getenv("S3RVER")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("S3RVER is not set on CI")
		}
		t.Skip("S3RVER not set (scripts/test.sh sets it when s3rver is installed)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-d", t.TempDir(), "-a", "127.0.0.1", "-p", fmt.Sprint(port), "--silent",
		"--no-vhost-buckets", "--configure-bucket", "parley")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(endpoint + "/parley")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3rver did not start: %v", err)
		}
	}
	return blob.S3Options{Endpoint: endpoint, Bucket: "parley", Region: "us-east-1", AccessKey: "S3RVER", SecretKey: "S3RVER"}
}
