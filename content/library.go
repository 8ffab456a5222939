package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/rank"
)

// Store is what the library needs from a store.
type Store interface {
	parley.Accounts
	parley.Library
}

// Captioner describes an image in a sentence (a vision model).
type Captioner interface {
	Caption(ctx context.Context, mediaType string, data []byte) (string, error)
}

// Defaults of a library.
const (
	DefaultMaxBytes     = 25 << 20
	DefaultFetchTimeout = 30 * time.Second
	searchPerTerm       = 50 // candidates per query word
)

// Library adds, finds and removes the items of bots' libraries.
type Library struct {
	Store   Store
	Blobs   blob.Store
	Client  *http.Client // fetches: egress.NewClient with redirects
	Caption Captioner    // optional
	Logger  *slog.Logger

	MaxBytes     int64         // DefaultMaxBytes if zero
	FetchTimeout time.Duration // DefaultFetchTimeout if zero
}

// Upload is one item to add: fetched from URL, or Data (a file upload).
type Upload struct {
	BotID       string
	URL         string
	Data        []byte
	FileName    string
	MediaType   string // what the uploader claims, checked against the bytes
	Title       string
	Description string
	Tags        []string
	Field       string // the request field the bytes came from (body.image_url, body.file)
}

// Add stores an upload: its bytes once per tenant, its item once per bot
// (created false: the bot had these bytes, and its item is returned).
func (l *Library) Add(ctx context.Context, tenantID string, u Upload) (*parley.ContentItem, bool, error) {
	it := &parley.ContentItem{BotID: u.BotID, Title: u.Title, Description: u.Description, Tags: u.Tags, FileName: u.FileName}
	if err := it.Validate("body"); err != nil {
		return nil, false, err
	}
	if _, err := l.Store.GetBot(ctx, tenantID, u.BotID); err != nil {
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return nil, false, parley.FieldError(parley.ENOTFOUND, "body.bot_id", "bot %q not found", u.BotID)
		}
		return nil, false, err
	}
	data := u.Data
	if u.URL != "" {
		var name string
		var err error
		data, name, err = l.Fetch(ctx, u.URL, u.Field)
		if err != nil {
			return nil, false, err
		}
		it.SourceURL = u.URL
		if it.FileName == "" {
			it.FileName = name
		}
	}
	in, sum, err := l.keep(ctx, tenantID, data, u.MediaType, u.Field)
	if err != nil {
		return nil, false, err
	}
	it.SHA256 = sum
	it.MediaType, it.Size, it.Width, it.Height = in.MediaType, int64(len(data)), in.Width, in.Height
	it.HasThumbnail = in.Width > 0 // an image: scaled down, or itself when it fits
	it.Caption = in.Description
	stored, created, err := l.Store.AddContent(ctx, tenantID, it)
	if err != nil || !created || l.Caption == nil || in.Width == 0 {
		return stored, created, err
	}
	// A new image is captioned once stored: the same bytes again find
	// their item without asking the model.
	caption, err := l.Caption.Caption(ctx, in.MediaType, data)
	if err != nil || caption == "" {
		if err != nil && l.Logger != nil {
			l.Logger.WarnContext(ctx, "content: caption", "err", err) // the item keeps the file's own
		}
		return stored, true, nil
	}
	if len(caption) > parley.MaxContentDescription {
		caption = strings.ToValidUTF8(caption[:parley.MaxContentDescription], "")
	}
	captioned, err := l.Store.PatchContent(ctx, tenantID, stored.ID, parley.ContentPatch{Caption: &caption})
	if err != nil {
		return nil, false, err
	}
	return captioned, true, nil
}

// keep checks bytes (Inspect) and stores them and their thumbnail in the
// blob store, before any row names them: a row never names a blob that is
// not there. A crash between the two leaves a blob no row names, which the
// same bytes sent again reuse.
func (l *Library) keep(ctx context.Context, tenantID string, data []byte, claimed, field string) (*Inspected, string, error) {
	if len(data) == 0 {
		return nil, "", parley.FieldError(parley.EINVALID, field, "no bytes")
	}
	if int64(len(data)) > l.maxBytes() {
		return nil, "", parley.FieldError(parley.ETOOLARGE, field, "more than %d bytes", l.maxBytes())
	}
	in, err := Inspect(data, claimed, field)
	if err != nil {
		return nil, "", err
	}
	digest := sha256.Sum256(data)
	sum := hex.EncodeToString(digest[:])
	if err := l.Blobs.Put(ctx, BlobKey(tenantID, sum, false), bytes.NewReader(data), int64(len(data)), in.MediaType); err != nil {
		return nil, "", err
	}
	if in.Thumbnail != nil {
		if err := l.Blobs.Put(ctx, BlobKey(tenantID, sum, true), bytes.NewReader(in.Thumbnail), int64(len(in.Thumbnail)), in.ThumbnailType); err != nil {
			return nil, "", err
		}
	}
	return in, sum, nil
}

// Fetched is a URL's media kept in the blob store (Keep).
type Fetched struct {
	SHA256        string
	MediaType     string
	Size          int64
	Width, Height int
}

// Keep fetches a URL's media and keeps its bytes, as Add does, for a
// message's media: a refusal is a parley.Error about field (what the
// message records), anything else a failure to retry.
func (l *Library) Keep(ctx context.Context, tenantID, rawURL, field string) (*Fetched, error) {
	data, _, err := l.Fetch(ctx, rawURL, field)
	if err != nil {
		return nil, err
	}
	in, sum, err := l.keep(ctx, tenantID, data, "", field)
	if err != nil {
		return nil, err
	}
	return &Fetched{SHA256: sum, MediaType: in.MediaType, Size: int64(len(data)), Width: in.Width, Height: in.Height}, nil
}

// BlobKey is where an item's bytes (or thumbnail) are in the blob store.
func BlobKey(tenantID, sum string, thumb bool) string {
	if thumb {
		return tenantID + "/" + sum + ".thumb"
	}
	return tenantID + "/" + sum
}

// Thumbnail says where an item's thumbnail is and what type it is: a
// scaled copy, or the file itself when the image fits.
func Thumbnail(tenantID string, it *parley.ContentItem) (key, mediaType string) {
	if Fits(it.Width, it.Height) {
		return BlobKey(tenantID, it.SHA256, false), it.MediaType
	}
	if it.MediaType == "image/jpeg" {
		return BlobKey(tenantID, it.SHA256, true), "image/jpeg"
	}
	return BlobKey(tenantID, it.SHA256, true), "image/png"
}

func (l *Library) maxBytes() int64 {
	if l.MaxBytes > 0 {
		return l.MaxBytes
	}
	return DefaultMaxBytes
}

// Fetch reads a URL's body, at most MaxBytes of it, within FetchTimeout,
// through the egress guard; it returns the body and the file name the URL
// gives. Every refusal is a parley.Error about field.
func (l *Library) Fetch(ctx context.Context, rawURL, field string) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", parley.FieldError(parley.EINVALID, field, "expected an http or https URL")
	}
	timeout := l.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", parley.FieldError(parley.EINVALID, field, "expected an http or https URL")
	}
	req.Header.Set("User-Agent", "Parley content fetcher")
	res, err := l.Client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, egress.ErrForbidden):
			return nil, "", parley.FieldError(parley.EINVALID, field, "the URL leads to an address Parley may not reach (loopback, private, link-local or metadata)")
		case errors.Is(err, egress.ErrRedirect):
			return nil, "", parley.FieldError(parley.EINVALID, field, "%v", errors.Unwrap(err))
		case ctx.Err() != nil:
			return nil, "", parley.FieldError(parley.EINVALID, field, "the fetch did not finish within %s", timeout)
		}
		return nil, "", parley.FieldError(parley.EINVALID, field, "the URL could not be fetched: %v", unwrapURLError(err))
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, "", parley.FieldError(parley.EINVALID, field, "the URL answered %s", res.Status)
	}
	max := l.maxBytes()
	if res.ContentLength > max {
		return nil, "", parley.FieldError(parley.ETOOLARGE, field, "the URL's body is %d bytes: at most %d", res.ContentLength, max)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, max+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", parley.FieldError(parley.EINVALID, field, "the fetch did not finish within %s", timeout)
		}
		return nil, "", parley.FieldError(parley.EINVALID, field, "reading the URL's body: %v", err)
	}
	if int64(len(data)) > max {
		return nil, "", parley.FieldError(parley.ETOOLARGE, field, "the URL's body is more than %d bytes", max)
	}
	return data, fileName(res), nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// fileName is what the response calls its file: Content-Disposition's
// filename, else the last segment of the final URL's path.
func fileName(res *http.Response) string {
	if _, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		return clip(path.Base(params["filename"]))
	}
	if name := path.Base(res.Request.URL.Path); name != "/" && name != "." {
		return clip(name)
	}
	return ""
}

func clip(s string) string {
	if len(s) > parley.MaxContentFileName {
		s = s[:parley.MaxContentFileName]
	}
	return strings.ToValidUTF8(s, "")
}

// Search ranks a bot's items for a query: BM25 over their search text
// (SearchText) among the full-text matches of the query's words, newest
// first on ties. It returns the page at offset.
func (l *Library) Search(ctx context.Context, tenantID, botID, query, mediaType string, offset, limit int) ([]parley.ContentItem, error) {
	words := rank.KeyTerms(query, 16)
	if len(words) == 0 {
		return nil, nil
	}
	found, err := l.Store.ListContent(ctx, tenantID, parley.ContentFilter{BotID: botID, MediaType: mediaType, Terms: words, PerTerm: searchPerTerm})
	if err != nil {
		return nil, err
	}
	// Once each, oldest first: a tie in rank goes to the higher index,
	// the newer item (ids are time-ordered).
	slices.SortFunc(found, func(a, b parley.ContentItem) int { return strings.Compare(a.ID, b.ID) })
	items := slices.CompactFunc(found, func(a, b parley.ContentItem) bool { return a.ID == b.ID })
	docs := make([]parley.Message, len(items))
	for i := range items {
		docs[i] = parley.Message{Seq: int64(i), Text: items[i].SearchText()}
	}
	ranked := rank.Rank(query, docs, offset+limit)
	out := make([]parley.ContentItem, 0, limit)
	for _, d := range ranked[min(offset, len(ranked)):] {
		out = append(out, items[d.Seq])
	}
	return out, nil
}

// Delete removes an item, and its bytes when no other item of the tenant
// has them.
func (l *Library) Delete(ctx context.Context, tenantID, id string) error {
	it, shared, err := l.Store.DeleteContent(ctx, tenantID, id)
	if err != nil || shared {
		return err
	}
	return l.Free(ctx, tenantID, []string{it.SHA256})
}

// Open returns an item's bytes, or its thumbnail's.
func (l *Library) Open(ctx context.Context, tenantID string, it *parley.ContentItem, thumb bool) (io.ReadCloser, int64, error) {
	if thumb && !it.HasThumbnail {
		return nil, 0, parley.Errorf(parley.ENOTFOUND, "content %q has no thumbnail", it.ID)
	}
	key := BlobKey(tenantID, it.SHA256, false)
	if thumb {
		key, _ = Thumbnail(tenantID, it)
	}
	r, size, err := l.Blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, 0, fmt.Errorf("content: the bytes of %s are missing from the blob store", it.ID)
	}
	return r, size, err
}

// DeleteBot deletes a bot (Store.DeleteBot: its items and conversations
// go with it) and then the bytes nothing else of the tenant has.
func (l *Library) DeleteBot(ctx context.Context, tenantID, botID string) error {
	sums, err := l.Store.MediaOf(ctx, tenantID, parley.MediaOwner{BotID: botID})
	if err != nil {
		return err
	}
	for before := ""; ; {
		page, err := l.Store.ListContent(ctx, tenantID, parley.ContentFilter{BotID: botID, BeforeID: before, Limit: 500})
		if err != nil {
			return err
		}
		for _, it := range page {
			sums = append(sums, it.SHA256)
		}
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	if err := l.Store.DeleteBot(ctx, tenantID, botID); err != nil {
		return err
	}
	return l.Free(ctx, tenantID, sums)
}

// DeleteUser erases a user (Store.DeleteUser) and then the bytes of the
// media they sent that nothing else of the tenant has.
func (l *Library) DeleteUser(ctx context.Context, tenantID, userID string) error {
	sums, err := l.Store.MediaOf(ctx, tenantID, parley.MediaOwner{UserID: userID})
	if err != nil {
		return err
	}
	if err := l.Store.DeleteUser(ctx, tenantID, userID); err != nil {
		return err
	}
	return l.Free(ctx, tenantID, sums)
}

// Free deletes the blobs of sums that nothing of the tenant names any
// more (one query for all of them).
func (l *Library) Free(ctx context.Context, tenantID string, sums []string) error {
	unused, err := l.Store.Unreferenced(ctx, tenantID, sums)
	if err != nil {
		return err
	}
	for _, sum := range unused {
		for _, thumb := range []bool{false, true} {
			if err := l.Blobs.Delete(ctx, BlobKey(tenantID, sum, thumb)); err != nil {
				return fmt.Errorf("content: delete bytes: %w", err)
			}
		}
	}
	return nil
}

// OpenMedia returns the bytes a message's media kept (Media.SHA256).
func (l *Library) OpenMedia(ctx context.Context, tenantID string, m parley.Media) (io.ReadCloser, int64, error) {
	if m.Status != parley.MediaStored || m.SHA256 == "" {
		return nil, 0, parley.Errorf(parley.ENOTFOUND, "this media was not stored (status %q)", m.Status)
	}
	r, size, err := l.Blobs.Open(ctx, BlobKey(tenantID, m.SHA256, false))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, 0, fmt.Errorf("content: the bytes %s are missing from the blob store", m.SHA256)
	}
	return r, size, err
}
