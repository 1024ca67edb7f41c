package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/x448/float16"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// columns turns JSON rows into the column-based FieldData a proxy puts into an InsertRequest: every user field
// (full length, with valid_data for nullable fields) and `$meta` for keys the schema does not name.
func columns(schema *schemapb.CollectionSchema, rows []map[string]any) ([]*schemapb.FieldData, error) {
	out := []*schemapb.FieldData{}
	known := map[string]bool{}
	for _, f := range schema.Fields {
		if f.FieldID < 100 || f.IsDynamic {
			continue
		}
		known[f.Name] = true
		fd, err := column(f, rows)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		out = append(out, fd)
	}
	for _, f := range schema.Fields {
		if !f.IsDynamic {
			continue
		}
		docs := make([][]byte, len(rows))
		for i, r := range rows {
			extra := map[string]any{}
			for k, v := range r {
				if !known[k] {
					extra[k] = v
				}
			}
			b, err := json.Marshal(extra)
			if err != nil {
				return nil, err
			}
			docs[i] = b
		}
		out = append(out, &schemapb.FieldData{
			Type: schemapb.DataType_JSON, FieldName: f.Name, FieldId: f.FieldID, IsDynamic: true,
			Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: docs}}}},
		})
	}
	return out, nil
}

func defaultOf(v *schemapb.ValueField) any {
	switch d := v.Data.(type) {
	case *schemapb.ValueField_BoolData:
		return d.BoolData
	case *schemapb.ValueField_IntData:
		return json.Number(strconv.FormatInt(int64(d.IntData), 10))
	case *schemapb.ValueField_LongData:
		return json.Number(strconv.FormatInt(d.LongData, 10))
	case *schemapb.ValueField_FloatData:
		return float64(d.FloatData)
	case *schemapb.ValueField_DoubleData:
		return d.DoubleData
	case *schemapb.ValueField_StringData:
		return d.StringData
	}
	return nil
}

func dimOf(f *schemapb.FieldSchema) int64 {
	for _, kv := range f.TypeParams {
		if kv.Key == "dim" {
			d, _ := strconv.ParseInt(kv.Value, 10, 64)
			return d
		}
	}
	return 0
}

// column is one field's data as the proxy sends it on after validation (validate_util.go fillWithValue): every
// row present; a missing value takes the field's default, else (nullable) a zero value with valid_data false; only
// nullable fields keep valid_data.
func column(f *schemapb.FieldSchema, rows []map[string]any) (*schemapb.FieldData, error) {
	fd := &schemapb.FieldData{Type: f.DataType, FieldName: f.Name, FieldId: f.FieldID}
	values := make([]any, len(rows))
	for i, r := range rows {
		values[i] = r[f.Name]
		if values[i] == nil && f.DefaultValue != nil {
			values[i] = defaultOf(f.DefaultValue)
		}
		if f.Nullable {
			fd.ValidData = append(fd.ValidData, values[i] != nil)
		} else if values[i] == nil {
			return nil, fmt.Errorf("row %d has no value", i)
		}
	}
	if f.DataType >= schemapb.DataType_BinaryVector {
		v, err := vectors(f, values)
		if err != nil {
			return nil, err
		}
		fd.Field = &schemapb.FieldData_Vectors{Vectors: v}
		return fd, nil
	}
	sf, err := scalars(f.DataType, f.ElementType, values)
	if err != nil {
		return nil, err
	}
	fd.Field = &schemapb.FieldData_Scalars{Scalars: sf}
	return fd, nil
}

func num(v any) (float64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		return x.Float64()
	case float64:
		return x, nil
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

func long(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		return strconv.ParseInt(x.String(), 10, 64)
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		return int64(x), nil
	}
	return 0, fmt.Errorf("not an integer: %v", v)
}

func scalars(t, element schemapb.DataType, values []any) (*schemapb.ScalarField, error) {
	switch t {
	case schemapb.DataType_Bool:
		d := make([]bool, len(values))
		for i, v := range values {
			d[i], _ = v.(bool)
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_BoolData{BoolData: &schemapb.BoolArray{Data: d}}}, nil
	case schemapb.DataType_Int8, schemapb.DataType_Int16, schemapb.DataType_Int32:
		d := make([]int32, len(values))
		for i, v := range values {
			n, err := long(v)
			if err != nil {
				return nil, err
			}
			d[i] = int32(n)
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_IntData{IntData: &schemapb.IntArray{Data: d}}}, nil
	case schemapb.DataType_Int64:
		d := make([]int64, len(values))
		for i, v := range values {
			n, err := long(v)
			if err != nil {
				return nil, err
			}
			d[i] = n
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: d}}}, nil
	case schemapb.DataType_Float:
		d := make([]float32, len(values))
		for i, v := range values {
			n, err := num(v)
			if err != nil {
				return nil, err
			}
			d[i] = float32(n)
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_FloatData{FloatData: &schemapb.FloatArray{Data: d}}}, nil
	case schemapb.DataType_Double:
		d := make([]float64, len(values))
		for i, v := range values {
			n, err := num(v)
			if err != nil {
				return nil, err
			}
			d[i] = n
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_DoubleData{DoubleData: &schemapb.DoubleArray{Data: d}}}, nil
	case schemapb.DataType_VarChar, schemapb.DataType_String:
		d := make([]string, len(values))
		for i, v := range values {
			d[i], _ = v.(string)
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_StringData{StringData: &schemapb.StringArray{Data: d}}}, nil
	case schemapb.DataType_JSON:
		d := make([][]byte, len(values))
		for i, v := range values {
			if v == nil {
				d[i] = []byte{}
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			d[i] = b
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_JsonData{JsonData: &schemapb.JSONArray{Data: d}}}, nil
	case schemapb.DataType_Array:
		d := make([]*schemapb.ScalarField, len(values))
		for i, v := range values {
			list, _ := v.([]any)
			sf, err := scalars(element, 0, list)
			if err != nil {
				return nil, err
			}
			d[i] = sf
		}
		return &schemapb.ScalarField{Data: &schemapb.ScalarField_ArrayData{ArrayData: &schemapb.ArrayArray{Data: d, ElementType: element}}}, nil
	}
	return nil, fmt.Errorf("unsupported scalar type %s", t)
}

func floats(v any, dim int64) ([]float32, error) {
	list, _ := v.([]any)
	if int64(len(list)) != dim {
		return nil, fmt.Errorf("vector has %d values, dim is %d", len(list), dim)
	}
	out := make([]float32, len(list))
	for i, x := range list {
		n, err := num(x)
		if err != nil {
			return nil, err
		}
		out[i] = float32(n)
	}
	return out, nil
}

// bfloat16 rounds a float32 to the nearest bfloat16 (ties to even).
func bfloat16(f float32) uint16 {
	bits := math.Float32bits(f)
	return uint16((bits + 0x7fff + ((bits >> 16) & 1)) >> 16)
}

func vectors(f *schemapb.FieldSchema, values []any) (*schemapb.VectorField, error) {
	dim := dimOf(f)
	out := &schemapb.VectorField{Dim: dim}
	switch f.DataType {
	case schemapb.DataType_FloatVector:
		d := []float32{}
		for _, v := range values {
			fs, err := floats(v, dim)
			if err != nil {
				return nil, err
			}
			d = append(d, fs...)
		}
		out.Data = &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: d}}
	case schemapb.DataType_Float16Vector, schemapb.DataType_BFloat16Vector:
		d := []byte{}
		for _, v := range values {
			fs, err := floats(v, dim)
			if err != nil {
				return nil, err
			}
			for _, x := range fs {
				h := float16.Fromfloat32(x).Bits()
				if f.DataType == schemapb.DataType_BFloat16Vector {
					h = bfloat16(x)
				}
				d = binary.LittleEndian.AppendUint16(d, h)
			}
		}
		if f.DataType == schemapb.DataType_Float16Vector {
			out.Data = &schemapb.VectorField_Float16Vector{Float16Vector: d}
		} else {
			out.Data = &schemapb.VectorField_Bfloat16Vector{Bfloat16Vector: d}
		}
	case schemapb.DataType_BinaryVector:
		d := []byte{}
		for _, v := range values {
			list, _ := v.([]any)
			if int64(len(list))*8 != dim {
				return nil, fmt.Errorf("binary vector has %d bytes, dim is %d", len(list), dim)
			}
			for _, x := range list {
				n, err := long(x)
				if err != nil {
					return nil, err
				}
				d = append(d, byte(n))
			}
		}
		out.Data = &schemapb.VectorField_BinaryVector{BinaryVector: d}
	case schemapb.DataType_SparseFloatVector:
		contents := make([][]byte, len(values))
		maxDim := int64(0)
		for i, v := range values {
			m, _ := v.(map[string]any)
			idx := make([]uint32, 0, len(m))
			for k := range m {
				n, err := strconv.ParseUint(k, 10, 32)
				if err != nil {
					return nil, err
				}
				idx = append(idx, uint32(n))
			}
			sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
			row := []byte{}
			for _, j := range idx {
				val, err := num(m[strconv.FormatUint(uint64(j), 10)])
				if err != nil {
					return nil, err
				}
				row = binary.LittleEndian.AppendUint32(row, j)
				row = binary.LittleEndian.AppendUint32(row, math.Float32bits(float32(val)))
				if int64(j)+1 > maxDim {
					maxDim = int64(j) + 1
				}
			}
			contents[i] = row
		}
		out.Dim = maxDim
		out.Data = &schemapb.VectorField_SparseFloatVector{SparseFloatVector: &schemapb.SparseFloatArray{Contents: contents, Dim: maxDim}}
	default:
		return nil, fmt.Errorf("unsupported vector type %s", f.DataType)
	}
	return out, nil
}
