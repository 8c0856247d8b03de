package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// pingFerretDB is the healthcheck: a listening port alone is not enough, the
// server must answer a command (FerretDB's ping also asks its backend).
func pingFerretDB(listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", listen, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	uri := "mongodb://" + net.JoinHostPort("127.0.0.1", port) + "/?directConnection=true"
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetServerSelectionTimeout(3*time.Second))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	var res struct{ Ok float64 }
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Decode(&res); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if res.Ok != 1 {
		return fmt.Errorf("ping answered ok: %v", res.Ok)
	}
	return nil
}
