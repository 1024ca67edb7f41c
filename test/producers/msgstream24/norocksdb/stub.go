// Package gorocksdb stands in for github.com/tecbot/gorocksdb (cgo bindings to RocksDB's C library) in the test
// producer. Milvus's msgstream package links its RocksMQ implementation, which this producer never uses (it writes
// to Kafka), so only the names that code refers to exist here. Opening a database fails; nothing here is RocksDB.
package gorocksdb

import "errors"

var errUnavailable = errors.New("RocksDB is not linked into the msgstream test producer")

type (
	CompressionType    int
	Cache              struct{}
	Options            struct{}
	ReadOptions        struct{}
	WriteOptions       struct{}
	WriteBatch         struct{}
	Iterator           struct{}
	Slice              struct{}
	ColumnFamilyHandle struct{}
	DB                 struct{}
	Range              struct {
		Start []byte
		Limit []byte
	}
	BlockBasedTableOptions struct{}
	ColumnFamilyHandles    []*ColumnFamilyHandle
)

func NewDefaultOptions() *Options                               { return &Options{} }
func NewDefaultReadOptions() *ReadOptions                       { return &ReadOptions{} }
func NewDefaultWriteOptions() *WriteOptions                     { return &WriteOptions{} }
func NewWriteBatch() *WriteBatch                                { return &WriteBatch{} }
func NewLRUCache(uint64) *Cache                                 { return &Cache{} }
func NewDefaultBlockBasedTableOptions() *BlockBasedTableOptions { return &BlockBasedTableOptions{} }
func OpenDb(*Options, string) (*DB, error)                      { return nil, errUnavailable }
func OpenDbColumnFamilies(*Options, string, []string, []*Options) (*DB, ColumnFamilyHandles, error) {
	return nil, nil, errUnavailable
}

func (*Options) SetBlockBasedTableFactory(*BlockBasedTableOptions) {}
func (*Options) IncreaseParallelism(int)                           {}
func (*Options) SetMaxBackgroundFlushes(int)                       {}
func (*Options) SetCreateIfMissing(bool)                           {}
func (*Options) SetCompression(CompressionType)                    {}
func (*Options) SetCreateIfMissingColumnFamilies(bool)             {}
func (*Options) Destroy()                                          {}
func (*Options) SetNumLevels(int)                                  {}
func (*Options) SetCompressionPerLevel([]CompressionType)          {}
func (*Options) SetTargetFileSizeMultiplier(int)                   {}

func (*BlockBasedTableOptions) SetCacheIndexAndFilterBlocks(bool)        {}
func (*BlockBasedTableOptions) SetPinL0FilterAndIndexBlocksInCache(bool) {}
func (*BlockBasedTableOptions) SetBlockCache(*Cache)                     {}
func (*BlockBasedTableOptions) SetBlockSize(int)                         {}

func (*ReadOptions) SetIterateUpperBound([]byte) {}
func (*ReadOptions) Destroy()                    {}
func (*WriteOptions) Destroy()                   {}

func (*WriteBatch) Put([]byte, []byte)                        {}
func (*WriteBatch) PutCF(*ColumnFamilyHandle, []byte, []byte) {}
func (*WriteBatch) Delete([]byte)                             {}
func (*WriteBatch) DeleteRange([]byte, []byte)                {}
func (*WriteBatch) Destroy()                                  {}

func (*Slice) Data() []byte { return nil }
func (*Slice) Free()        {}
func (*Slice) Size() int    { return 0 }
func (*Slice) Exists() bool { return false }

func (*Iterator) Valid() bool                { return false }
func (*Iterator) ValidForPrefix([]byte) bool { return false }
func (*Iterator) Key() *Slice                { return &Slice{} }
func (*Iterator) Value() *Slice              { return &Slice{} }
func (*Iterator) Next()                      {}
func (*Iterator) Prev()                      {}
func (*Iterator) SeekToFirst()               {}
func (*Iterator) SeekToLast()                {}
func (*Iterator) Seek([]byte)                {}
func (*Iterator) SeekForPrev([]byte)         {}
func (*Iterator) Err() error                 { return errUnavailable }
func (*Iterator) Close()                     {}

func (*DB) Close()                                                    {}
func (*DB) Get(*ReadOptions, []byte) (*Slice, error)                  { return nil, errUnavailable }
func (*DB) MultiGet(*ReadOptions, ...[]byte) (Slices, error)          { return nil, errUnavailable }
func (*DB) Put(*WriteOptions, []byte, []byte) error                   { return errUnavailable }
func (*DB) Delete(*WriteOptions, []byte) error                        { return errUnavailable }
func (*DB) Write(*WriteOptions, *WriteBatch) error                    { return errUnavailable }
func (*DB) NewIterator(*ReadOptions) *Iterator                        { return &Iterator{} }
func (*DB) NewIteratorCF(*ReadOptions, *ColumnFamilyHandle) *Iterator { return &Iterator{} }
func (*DB) CompactRange(Range)                                        {}
func (*DB) GetProperty(string) string                                 { return "" }

// Slices is what MultiGet returns.
type Slices []*Slice

func (s Slices) Destroy() {}
