package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley"
	"github.com/parley-chat/parley/blob"
	"github.com/parley-chat/parley/content"
	"github.com/parley-chat/parley/egress"
	"github.com/parley-chat/parley/rank"
)

// ContentResult is one store's content library figures.
type ContentResult struct {
	Store string
	// Search quality on LoCoMo's shared photos: recall@5 of each photo for
	// its image-search query, through the library's search, against BM25
	// over caption + description and over the caption alone, same run.
	Photos                           int
	Recall5, Baseline5, CaptionOnly5 float64
	// Ingest of images fetched from a local HTTP server.
	Ingested, Duplicates    int
	IngestPerS              float64
	BytesFetched, BytesKept int64
	// Search latency with many items in one bot's library.
	SearchItems          int
	SearchP50, SearchP95 time.Duration
}

// photo is one of LoCoMo's shared photos.
type photo struct{ caption, turn, query string }

// photoImage is a small image of its own for photo n: distinct bytes, so
// that no two photos are one item.
func photoImage(n int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			img.Set(x, y, color.RGBA{uint8(n), uint8(n >> 8), uint8(x*16 + y), 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// Content measures the content library: LoCoMo photo search, the ingest
// of `ingest` images from a local server (a tenth of them the bytes of
// another under a new URL), and search latency over `items` items of one
// bot (their texts made of LoCoMo's captions and turns).
func Content(ctx context.Context, name string, st parley.Store, opts Options, ingest, items int) (*ContentResult, error) {
	res := &ContentResult{Store: name}
	dir, err := os.MkdirTemp(opts.Dir, "parley-bench-blobs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	lib := &content.Library{Store: st, Blobs: blob.Dir{Root: dir},
		Client: egress.NewClient(egress.Options{AllowPrivate: true, Redirects: 5})}

	// Search quality.
	files, err := locomoFiles(opts.CorpusDir)
	if err != nil {
		return nil, err
	}
	var corpus []photo
	var hits, base, capOnly int
	n := 0
	for _, f := range files {
		doc, err := readLoCoMo(f)
		if err != nil {
			return nil, err
		}
		tenant, err := st.EnsureTenant(ctx, "content-"+strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			return nil, err
		}
		if _, err := st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"}); err != nil {
			return nil, err
		}
		var photos []photo
		var ids []string
		for s := 1; ; s++ {
			body, ok := doc[fmt.Sprintf("session_%d", s)]
			if !ok {
				break
			}
			var turns []struct {
				Text        string `json:"text"`
				BlipCaption string `json:"blip_caption"`
				Query       string `json:"query"`
			}
			if err := json.Unmarshal(body, &turns); err != nil {
				return nil, err
			}
			for _, t := range turns {
				if t.BlipCaption == "" || t.Query == "" {
					continue
				}
				n++
				it, _, err := lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot", Data: photoImage(n), Description: t.Text, Field: "body.file"})
				if err != nil {
					return nil, err
				}
				caption := t.BlipCaption
				if _, err := st.PatchContent(ctx, tenant.ID, it.ID, parley.ContentPatch{Caption: &caption}); err != nil {
					return nil, err
				}
				photos = append(photos, photo{t.BlipCaption, t.Text, t.Query})
				ids = append(ids, it.ID)
			}
		}
		both := make([]parley.Message, len(photos))
		captions := make([]parley.Message, len(photos))
		for i, p := range photos {
			both[i] = parley.Message{Seq: int64(i), Text: p.caption + "\n" + p.turn}
			captions[i] = parley.Message{Seq: int64(i), Text: p.caption}
		}
		in := func(ranked []parley.Message, i int) int {
			for _, m := range ranked {
				if m.Seq == int64(i) {
					return 1
				}
			}
			return 0
		}
		for i, p := range photos {
			found, err := lib.Search(ctx, tenant.ID, "bot", p.query, "", 0, 5)
			if err != nil {
				return nil, err
			}
			for _, it := range found {
				if it.ID == ids[i] {
					hits++
				}
			}
			base += in(rank.Rank(p.query, both, 5), i)
			capOnly += in(rank.Rank(p.query, captions, 5), i)
		}
		corpus = append(corpus, photos...)
		res.Photos += len(photos)
	}
	res.Recall5 = float64(hits) / float64(max(res.Photos, 1))
	res.Baseline5 = float64(base) / float64(max(res.Photos, 1))
	res.CaptionOnly5 = float64(capOnly) / float64(max(res.Photos, 1))

	if err := contentIngest(ctx, st, lib, ingest, dir, res, opts.meter(name+": fetching images", ingest)); err != nil {
		return nil, err
	}
	if err := contentSearchLatency(ctx, st, lib, corpus, items, opts, res); err != nil {
		return nil, err
	}
	return res, nil
}

// contentIngest fetches images from a local server into one bot's library
// with 16 uploaders.
func contentIngest(ctx context.Context, st parley.Store, lib *content.Library, count int, dir string, res *ContentResult, bar Meter) error {
	defer bar.Finish()
	tenant, err := st.EnsureTenant(ctx, "content-ingest")
	if err != nil {
		return err
	}
	if _, err := st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"}); err != nil {
		return err
	}
	// Image i is 96×96 of its own pattern; every tenth URL serves the
	// bytes of the one before it.
	images := make([][]byte, count)
	for i := range images {
		if i%10 == 9 {
			images[i] = images[i-1]
			continue
		}
		var b bytes.Buffer
		_ = png.Encode(&b, imageOf(i))
		images[i] = b.Bytes()
	}
	image := func(i int) []byte {
		if i < 0 || i >= len(images) {
			return nil
		}
		return images[i]
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var i int
		fmt.Sscanf(r.URL.Path, "/img/%d.png", &i)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(image(i))
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	base := "http://" + l.Addr().String()
	var fetched atomic.Int64
	var dups atomic.Int32
	start := time.Now()
	if err := fanOut(ctx, count, 16, func(_, i int) error {
		it, created, err := lib.Add(ctx, tenant.ID, content.Upload{BotID: "bot", URL: fmt.Sprintf("%s/img/%d.png", base, i),
			Field: "body.image_url", Title: fmt.Sprintf("image %d", i)})
		if err != nil {
			return err
		}
		fetched.Add(it.Size)
		if i%100 == 99 {
			bar.Set(int64(i+1), fmt.Sprintf("%d images fetched", i+1))
		}
		if !created {
			dups.Add(1)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("bench content ingest: %w", err)
	}
	res.IngestPerS = float64(count) / time.Since(start).Seconds()
	res.Ingested, res.Duplicates, res.BytesFetched = count, int(dups.Load()), fetched.Load()
	return filepath.WalkDir(filepath.Join(dir, tenant.ID), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			res.BytesKept += info.Size()
		}
		return err
	})
}

// imageOf is a 96×96 image of pattern i.
func imageOf(i int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	r := rand.New(rand.NewPCG(uint64(i), 7))
	c1 := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{c1.R + uint8(x), c1.G + uint8(y), c1.B, 255})
		}
	}
	img.Set(0, 0, color.RGBA{uint8(i), uint8(i >> 8), uint8(i >> 16), 255}) // no two patterns alike
	return img
}

// contentSearchLatency fills one bot's library with items whose texts mix
// LoCoMo captions and turns, then times searches for LoCoMo's queries.
func contentSearchLatency(ctx context.Context, st parley.Store, lib *content.Library, corpus []photo,
	items int, opts Options, res *ContentResult) error {
	if items <= 0 || len(corpus) == 0 {
		return nil
	}
	tenant, err := st.EnsureTenant(ctx, "content-search")
	if err != nil {
		return err
	}
	if _, err := st.CreateBot(ctx, tenant.ID, &parley.Bot{ID: "bot"}); err != nil {
		return err
	}
	// Rows only (the search reads no bytes), by 16 writers.
	bar := opts.meter("content: library items", items)
	defer bar.Finish()
	rngs := make([]*rand.Rand, 16)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 11))
	}
	if err := fanOut(ctx, items, len(rngs), func(w, i int) error {
		r := rngs[w]
		a, b := corpus[r.IntN(len(corpus))], corpus[r.IntN(len(corpus))]
		if _, _, err := st.AddContent(ctx, tenant.ID, &parley.ContentItem{BotID: "bot", MediaType: "image/jpeg",
			SHA256: fmt.Sprintf("%064x", i), Size: 1000, Width: 640, Height: 480, Caption: a.caption,
			Description: b.turn, Title: fmt.Sprintf("photo %d", i), Tags: []string{}}); err != nil {
			return err
		}
		if i%500 == 499 {
			bar.Set(int64(i+1), fmt.Sprintf("%d items stored", i+1))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("bench content search: %w", err)
	}
	if ix, ok := st.(interface {
		IndexPending(ctx context.Context) (int, error)
	}); ok {
		if _, err := ix.IndexPending(ctx); err != nil {
			return err
		}
	}
	samples := min(max(opts.Samples, 100), 1000)
	lat := make([]time.Duration, 0, samples)
	for i := range samples {
		t0 := time.Now()
		if _, err := lib.Search(ctx, tenant.ID, "bot", corpus[i%len(corpus)].query, "", 0, 20); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.SearchItems, res.SearchP50, res.SearchP95 = items, lat[len(lat)/2], lat[len(lat)*95/100]
	return nil
}

// ContentTable prints the content suite's figures.
func ContentTable(rs []*ContentResult) string {
	t := newTable(rs, func(r *ContentResult) string { return r.Store })
	row := t.row
	row("LoCoMo photos searched by their image-search query", "", func(r *ContentResult) string { return fmt.Sprint(r.Photos) })
	row("recall@5 through the library's search (BM25 over caption + description, same run)", "≥ 0.90", func(r *ContentResult) string {
		return fmt.Sprintf("%.3f (%.3f, %.2f×)", r.Recall5, r.Baseline5, r.Recall5/max(r.Baseline5, 1e-9))
	})
	row("recall@5, BM25 over the caption alone", "", func(r *ContentResult) string { return fmt.Sprintf("%.3f", r.CaptionOnly5) })
	row("images fetched from a local server (of which the same bytes again)", "", func(r *ContentResult) string {
		return fmt.Sprintf("%d (%d)", r.Ingested, r.Duplicates)
	})
	row("ingest, items per second (16 uploaders)", "", func(r *ContentResult) string { return fmt.Sprintf("%.0f/s", r.IngestPerS) })
	row("bytes fetched / bytes kept (files and thumbnails)", "", func(r *ContentResult) string {
		return fmt.Sprintf("%.1f / %.1f MB", float64(r.BytesFetched)/1e6, float64(r.BytesKept)/1e6)
	})
	row("search p50 / p95 (items in the bot's library)", "p95 < 10 ms at 100,000", func(r *ContentResult) string {
		return fmt.Sprintf("%.2f / %.2f ms (%d)", ms(r.SearchP50), ms(r.SearchP95), r.SearchItems)
	})
	return t.String()
}
