package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
)

type listDeliveriesInput struct {
	ConversationID string `query:"conversation_id" maxLength:"64"`
	Status         string `query:"status" enum:"pending,delivered,failed,disabled"`
	Limit          int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
	Cursor         string `query:"cursor" maxLength:"256"`
}

type listDeliveriesOutput struct {
	Body struct {
		Deliveries []parley.Delivery `json:"deliveries"`
		NextCursor string            `json:"next_cursor"`
	}
}

type deliveryPath struct {
	ID string `path:"id" maxLength:"64"`
}

type deliveryOutput struct {
	Body *parley.Delivery
}

type secretsOutput struct {
	Body struct {
		Secrets []parley.WebhookSecret `json:"secrets" doc:"every secret that signs now, newest (current) first"`
	}
}

type rotateSecretInput struct {
	Body struct {
		Secret         string `json:"secret,omitempty" maxLength:"200" doc:"whsec_... to use; empty makes a random one"`
		OverlapSeconds *int   `json:"overlap_seconds,omitempty" minimum:"0" maximum:"2592000" doc:"how long the old secrets keep signing (default 86400)"`
	}
}

type secretOutput struct {
	Body *parley.WebhookSecret
}

func (s *Server) registerWebhooks() {
	huma.Register(s.api, op("listWebhookDeliveries", http.MethodGet, "/api/webhook-deliveries",
		"The delivery log: each delivery with its attempts", "webhooks"),
		func(ctx context.Context, in *listDeliveriesInput) (*listDeliveriesOutput, error) {
			var cur listCursor
			if err := decodeCursor(in.Cursor, "cursor", &cur); err != nil {
				return nil, err
			}
			ds, err := s.store.ListDeliveries(ctx, principal(ctx).TenantID, parley.DeliveryFilter{
				ConversationID: in.ConversationID, Status: in.Status, Limit: in.Limit + 1, BeforeID: cur.ID})
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &listDeliveriesOutput{}
			if len(ds) > in.Limit {
				ds = ds[:in.Limit]
				out.Body.NextCursor = encodeCursor(listCursor{ID: ds[len(ds)-1].ID})
			}
			out.Body.Deliveries = append([]parley.Delivery{}, ds...)
			return out, nil
		})
	o := op("replayWebhookDelivery", http.MethodPost, "/api/webhook-deliveries/{id}/replay",
		"Send a delivery again, with the same webhook-id (admin)", "webhooks")
	o.DefaultStatus = http.StatusAccepted
	huma.Register(s.api, o, func(ctx context.Context, in *deliveryPath) (*deliveryOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		d, err := s.store.ReplayDelivery(ctx, principal(ctx).TenantID, in.ID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &deliveryOutput{Body: d}, nil
	})
	huma.Register(s.api, op("listWebhookSecrets", http.MethodGet, "/api/webhook-secrets",
		"The tenant's webhook signing secrets (admin)", "webhooks"),
		func(ctx context.Context, _ *struct{}) (*secretsOutput, error) {
			if err := requireAdmin(ctx); err != nil {
				return nil, err
			}
			list, err := s.store.WebhookSecrets(ctx, principal(ctx).TenantID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			out := &secretsOutput{}
			out.Body.Secrets = append([]parley.WebhookSecret{}, list...)
			return out, nil
		})
	o = op("rotateWebhookSecret", http.MethodPost, "/api/webhook-secrets/rotate",
		"Make a new current secret; the old ones keep signing during the overlap (admin)", "webhooks")
	o.DefaultStatus = http.StatusCreated
	huma.Register(s.api, o, func(ctx context.Context, in *rotateSecretInput) (*secretOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		overlap := 24 * time.Hour
		if in.Body.OverlapSeconds != nil {
			overlap = time.Duration(*in.Body.OverlapSeconds) * time.Second
		}
		sec, err := s.store.RotateWebhookSecret(ctx, principal(ctx).TenantID, in.Body.Secret, overlap)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &secretOutput{Body: sec}, nil
	})
}
