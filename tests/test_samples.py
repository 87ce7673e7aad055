"The built-in samples read the way the course reads the real data: plain pandas and fastai calls, nothing of ours"
import pandas as pd
from fastai.collab import CollabDataLoaders
from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, get_image_files, parent_label, RandomSplitter, Resize, aug_transforms

def test_movielens_reads_like_ml_100k():
    "fastbook chapter 8's way in: u.data and u.item through pandas, merged on the id, keyed by title; the titles it looks up exist"
    from lesson7_companion.sample_movielens import movielens_sample
    path = movielens_sample()
    ratings = pd.read_csv(path/'u.data', delimiter='\t', header=None, names=['user','movie','rating','timestamp'])
    movies = pd.read_csv(path/'u.item', delimiter='|', encoding='latin-1', usecols=(0,1), names=('movie','title'), header=None)
    ratings = ratings.merge(movies)
    assert len(ratings) == 100_000
    dls = CollabDataLoaders.from_df(ratings, item_name='title', bs=64)
    assert (len(dls.classes['user']), len(dls.classes['title'])) == (944, 1665)   # as on the real ml-100k
    for t in ('Silence of the Lambs, The (1991)', 'Star Wars (1977)', 'Titanic (1997)', 'L.A. Confidential (1997)'):
        assert t in dls.classes['title'].o2i, t

def test_paddy_reads_like_the_competition(tmp_path):
    "Road to the Top's way in: a DataBlock of an image and two categories, the variety looked up in train.csv by file name"
    from lesson7_companion.sample_paddy import paddy_sample
    path = paddy_sample(tmp_path/'p', n_train=120, n_test=5)
    df = pd.read_csv(path/'train.csv', index_col='image_id')
    get_variety = lambda p: df.loc[p.name, 'variety']
    dls = DataBlock(blocks=(ImageBlock, CategoryBlock, CategoryBlock), n_inp=1, get_items=get_image_files, get_y=[parent_label, get_variety],
                    splitter=RandomSplitter(0.2, seed=42), item_tfms=Resize(96, method='squish'),
                    batch_tfms=aug_transforms(size=64, min_scale=0.75)).dataloaders(path/'train_images', bs=16)
    x, disease, variety = dls.one_batch()
    assert x.shape == (16, 3, 64, 64) and len(disease) == len(variety) == 16
    sub = pd.read_csv(path/'sample_submission.csv')
    assert list(sub.columns) == ['image_id', 'label'] and len(sub) == 5
