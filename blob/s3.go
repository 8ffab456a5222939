package blob

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options say where an S3-compatible service is.
type S3Options struct {
	Endpoint  string // URL: https://s3.eu-west-1.amazonaws.com, http://127.0.0.1:4568
	Bucket    string
	Region    string
	AccessKey string
	SecretKey string
	Prefix    string // put before every key, e.g. "parley/"
}

// S3 stores blobs as objects of one bucket, path-style (what every
// S3-compatible service accepts).
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 returns a store on the service; it checks that the bucket exists.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("blob: S3 endpoint %q: expected an http or https URL", o.Endpoint)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       o.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: S3 client: %w", err)
	}
	ok, err := client.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: S3 bucket %q: %w", o.Bucket, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob: S3 bucket %q does not exist", o.Bucket)
	}
	return &S3{client: client, bucket: o.Bucket, prefix: o.Prefix}, nil
}

// Put uploads a blob.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, mediaType string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	// A plain signed PUT (UNSIGNED-PAYLOAD) rather than the aws-chunked
	// streaming signature minio-go uses over http: not every S3-compatible
	// service decodes the chunks (s3rver stores them as the object). The
	// request is still signed; the bytes are named by their SHA-256.
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, r, size, minio.PutObjectOptions{
		ContentType: mediaType, DisableContentSha256: true})
	if err != nil {
		return fmt.Errorf("blob: S3 put %s: %w", key, err)
	}
	return nil
}

// Open downloads a blob.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := CheckKey(key); err != nil {
		return nil, 0, err
	}
	st, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("blob: S3 stat %s: %w", key, err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, 0, fmt.Errorf("blob: S3 get %s: %w", key, err)
	}
	return obj, st.Size, nil
}

// Delete removes a blob.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("blob: S3 delete %s: %w", key, err)
	}
	return nil
}
