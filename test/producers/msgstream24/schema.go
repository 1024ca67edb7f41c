package main

import (
	"fmt"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

type schemaSpec struct {
	Fields  []fieldSpec `json:"fields"`
	Dynamic bool        `json:"dynamic"`
	AutoID  bool        `json:"autoId"`
}

type fieldSpec struct {
	Name         string `json:"name"`
	Type         string `json:"type"` // schemapb.DataType name, e.g. "Int64", "FloatVector"
	ElementType  string `json:"elementType"`
	PrimaryKey   bool   `json:"primaryKey"`
	AutoID       bool   `json:"autoId"`
	Dim          int    `json:"dim"`
	MaxLength    int    `json:"maxLength"`
	MaxCapacity  int    `json:"maxCapacity"`
	Nullable     bool   `json:"nullable"`
	PartitionKey bool   `json:"partitionKey"`
	Description  string `json:"description"`
	// Default is the field's default value (2.5): the proxy writes it for rows that leave the field out.
	Default any `json:"default"`
}

func dataType(name string) (schemapb.DataType, error) {
	v, ok := schemapb.DataType_value[name]
	if !ok {
		return 0, fmt.Errorf("unknown data type %q", name)
	}
	return schemapb.DataType(v), nil
}

func (f fieldSpec) build(id int64) (*schemapb.FieldSchema, error) {
	t, err := dataType(f.Type)
	if err != nil {
		return nil, err
	}
	fs := &schemapb.FieldSchema{
		FieldID: id, Name: f.Name, DataType: t, IsPrimaryKey: f.PrimaryKey, AutoID: f.AutoID,
		Nullable: f.Nullable, IsPartitionKey: f.PartitionKey, Description: f.Description,
	}
	if f.ElementType != "" {
		if fs.ElementType, err = dataType(f.ElementType); err != nil {
			return nil, err
		}
	}
	if f.Dim > 0 {
		fs.TypeParams = append(fs.TypeParams, &commonpb.KeyValuePair{Key: "dim", Value: strconv.Itoa(f.Dim)})
	}
	if f.MaxLength > 0 {
		fs.TypeParams = append(fs.TypeParams, &commonpb.KeyValuePair{Key: "max_length", Value: strconv.Itoa(f.MaxLength)})
	}
	if f.MaxCapacity > 0 {
		fs.TypeParams = append(fs.TypeParams, &commonpb.KeyValuePair{Key: "max_capacity", Value: strconv.Itoa(f.MaxCapacity)})
	}
	if f.Default != nil {
		if fs.DefaultValue, err = defaultValue(t, f.Default); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// defaultValue is the schemapb.ValueField of a scalar default.
func defaultValue(t schemapb.DataType, v any) (*schemapb.ValueField, error) {
	sf, err := scalars(t, 0, []any{v})
	if err != nil {
		return nil, err
	}
	switch d := sf.Data.(type) {
	case *schemapb.ScalarField_BoolData:
		return &schemapb.ValueField{Data: &schemapb.ValueField_BoolData{BoolData: d.BoolData.Data[0]}}, nil
	case *schemapb.ScalarField_IntData:
		return &schemapb.ValueField{Data: &schemapb.ValueField_IntData{IntData: d.IntData.Data[0]}}, nil
	case *schemapb.ScalarField_LongData:
		return &schemapb.ValueField{Data: &schemapb.ValueField_LongData{LongData: d.LongData.Data[0]}}, nil
	case *schemapb.ScalarField_FloatData:
		return &schemapb.ValueField{Data: &schemapb.ValueField_FloatData{FloatData: d.FloatData.Data[0]}}, nil
	case *schemapb.ScalarField_DoubleData:
		return &schemapb.ValueField{Data: &schemapb.ValueField_DoubleData{DoubleData: d.DoubleData.Data[0]}}, nil
	case *schemapb.ScalarField_StringData:
		return &schemapb.ValueField{Data: &schemapb.ValueField_StringData{StringData: d.StringData.Data[0]}}, nil
	}
	return nil, fmt.Errorf("no default values for %s", t)
}

// build returns the schema as rootcoord completes it: user fields from 100, `$meta` when dynamic, then the system
// fields RowID (0) and Timestamp (1).
func (s schemaSpec) build(name, db string) (*schemapb.CollectionSchema, int64, error) {
	out := &schemapb.CollectionSchema{Name: name, AutoID: s.AutoID, EnableDynamicField: s.Dynamic}
	next := int64(100)
	for _, f := range s.Fields {
		fs, err := f.build(next)
		if err != nil {
			return nil, 0, err
		}
		out.Fields = append(out.Fields, fs)
		next++
	}
	if s.Dynamic {
		out.Fields = append(out.Fields, &schemapb.FieldSchema{
			FieldID: next, Name: "$meta", DataType: schemapb.DataType_JSON, IsDynamic: true, Description: "dynamic schema",
		})
		next++
	}
	out.Fields = append(out.Fields,
		&schemapb.FieldSchema{FieldID: 0, Name: "RowID", Description: "row id", DataType: schemapb.DataType_Int64},
		&schemapb.FieldSchema{FieldID: 1, Name: "Timestamp", Description: "time stamp", DataType: schemapb.DataType_Int64},
	)
	return out, next, nil
}
